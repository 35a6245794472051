"""Latent priors p(z) for the rate-prior distortion curve.

All priors are float64 TFP distributions with event shape [D], the form
`tfrd.estimate_rd_curve(..., prior=...)` takes. `damaged_mixture_prior` is the
§6.2 manipulation of Huang et al. (2020), after Theis et al. (2015): the
model's N(0, I) prior mixed with a "poor" wide prior N(0, 10·I) with weight α.
It keeps the log-likelihood within -log(1 - α) nats of the original model but
generates garbage with probability α; its curve loses at low rates.

`prior_from_spec` turns an app flag into a prior: 'normal',
'mixture:ALPHA[:WIDE_VARIANCE]' or 'py:module:attr'.
"""

import math

import numpy as np
import tensorflow as tf

from adapters import python_objects
from tfrd.probability import tfp

__all__ = ['PriorError', 'standard_normal', 'diagonal_gaussian',
           'damaged_mixture_prior', 'prior_from_spec', 'describe_prior_spec']

tfd = tfp.distributions


class PriorError(ValueError):
  """A prior spec or distribution cannot be used; the message says why."""


def standard_normal(latent_dim):
  """N(0, I) over a latent vector of size `latent_dim`, float64.

  Args:
    latent_dim: D >= 1.

  Returns:
    A `tfd.MultivariateNormalDiag` with event shape [D].
  """
  latent_dim = _positive_int(latent_dim, 'latent_dim')
  return tfd.MultivariateNormalDiag(
      loc=tf.zeros([latent_dim], tf.float64),
      scale_diag=tf.ones([latent_dim], tf.float64), name='StandardNormal')


def diagonal_gaussian(loc, scale):
  """N(loc, diag(scale²)), float64.

  Args:
    loc: [D] means.
    scale: [D] standard deviations (> 0), or a scalar for all of them.

  Returns:
    A `tfd.MultivariateNormalDiag` with event shape [D].

  Raises:
    PriorError: for a non-vector loc or non-positive scales.
  """
  loc = np.asarray(loc, np.float64)
  if loc.ndim != 1 or loc.size < 1:
    raise PriorError(f'loc must be a non-empty vector, got shape {loc.shape}.')
  scale = np.broadcast_to(np.asarray(scale, np.float64), loc.shape)
  if not np.all(np.isfinite(scale) & (scale > 0)):
    raise PriorError('scale must be finite and positive.')
  return tfd.MultivariateNormalDiag(loc=tf.constant(loc),
                                    scale_diag=tf.constant(scale),
                                    name='DiagonalGaussian')


def damaged_mixture_prior(latent_dim, alpha, wide_variance=10.0):
  """(1 - α)·N(0, I) + α·N(0, wide_variance·I), the §6.2 damaged prior.

  A proper mixture of two multivariate normals (not a per-dimension mixture):
  a sample is entirely "good" or entirely "poor".

  Args:
    latent_dim: D >= 1.
    alpha: weight of the wide component, in [0, 1] (the paper takes it close
      to 1).
    wide_variance: variance of each coordinate of the wide component (10 in
      the paper).

  Returns:
    A float64 `tfd.MixtureSameFamily` of `MultivariateNormalDiag`s, event
    shape [D].

  Raises:
    PriorError: for α outside [0, 1] or a non-positive variance.
  """
  latent_dim = _positive_int(latent_dim, 'latent_dim')
  alpha = float(alpha)
  wide_variance = float(wide_variance)
  if not 0.0 <= alpha <= 1.0:
    raise PriorError(f'The mixture weight alpha must be in [0, 1], got '
                     f'{alpha!r}.')
  if not (math.isfinite(wide_variance) and wide_variance > 0):
    raise PriorError(f'wide_variance must be positive, got {wide_variance!r}.')
  scales = tf.constant([[1.0] * latent_dim,
                        [math.sqrt(wide_variance)] * latent_dim], tf.float64)
  return tfd.MixtureSameFamily(
      mixture_distribution=tfd.Categorical(
          probs=tf.constant([1.0 - alpha, alpha], tf.float64)),
      components_distribution=tfd.MultivariateNormalDiag(
          loc=tf.zeros([2, latent_dim], tf.float64), scale_diag=scales),
      name='DamagedMixturePrior')


def prior_from_spec(spec, latent_dim):
  """A prior from a flag value.

  Args:
    spec: 'normal' (also 'standard_normal' or empty/None): N(0, I);
      'mixture:ALPHA' or 'mixture:ALPHA:WIDE_VARIANCE': `damaged_mixture_prior`;
      'py:module:attr': a TFP distribution, or a function of `latent_dim`
      returning one.
    latent_dim: D, the decoder's latent size; the prior must match it.

  Returns:
    A TFP distribution with event shape [latent_dim].

  Raises:
    PriorError: for an unknown or malformed spec, a module or attribute that
      cannot be imported, or a distribution of the wrong event shape.
  """
  kind, args = _parse(spec)
  if kind == 'normal':
    return standard_normal(latent_dim)
  if kind == 'mixture':
    return damaged_mixture_prior(latent_dim, *args)
  try:
    prior = python_objects.resolve(spec, 'prior')
  except python_objects.PythonObjectError as error:
    raise PriorError(str(error)) from None
  if not isinstance(prior, tfd.Distribution):
    if not callable(prior):
      raise PriorError(f'Prior {spec!r} is neither a TFP distribution nor a '
                       f'function of latent_dim returning one.')
    prior = prior(int(latent_dim))
    if not isinstance(prior, tfd.Distribution):
      raise PriorError(f'Prior {spec!r} returned a {type(prior).__name__}, '
                       f'not a TFP distribution.')
  event_shape = tuple(prior.event_shape)
  if event_shape != (int(latent_dim),) or tuple(prior.batch_shape):
    raise PriorError(
        f'Prior {spec!r} has event shape {event_shape} and batch shape '
        f'{tuple(prior.batch_shape)}; the decoder needs event shape '
        f'({int(latent_dim)},) and no batch shape.')
  return prior


def describe_prior_spec(spec):
  """JSON-serializable description of a prior spec, for curve.json.

  Args:
    spec: as for `prior_from_spec`.

  Returns:
    A dict with the spec, its kind and its parameters.

  Raises:
    PriorError: for an unknown or malformed spec.
  """
  kind, args = _parse(spec)
  description = {'spec': spec or 'normal', 'kind': kind}
  if kind == 'normal':
    description['formula'] = 'N(0, I)'
  elif kind == 'mixture':
    alpha, wide_variance = args
    description.update(
        alpha=alpha, wide_variance=wide_variance,
        formula=f'(1 - {alpha:g}) N(0, I) + {alpha:g} N(0, '
                f'{wide_variance:g} I)')
  else:
    description['module'], description['attribute'] = args
  return description


def _parse(spec):
  """(kind, args) of a prior spec; kind is 'normal', 'mixture' or 'python'."""
  if spec in (None, '', 'normal', 'standard_normal'):
    return 'normal', ()
  spec = str(spec)
  if spec.startswith('mixture:'):
    parts = spec.split(':')[1:]
    try:
      if len(parts) not in (1, 2):
        raise ValueError
      alpha = float(parts[0])
      wide_variance = float(parts[1]) if len(parts) == 2 else 10.0
    except ValueError:
      raise PriorError(f'Bad prior {spec!r}; expected mixture:ALPHA or '
                       f'mixture:ALPHA:WIDE_VARIANCE with numbers.') from None
    if not 0.0 <= alpha <= 1.0:
      raise PriorError(f'Bad prior {spec!r}: alpha must be in [0, 1].')
    if not (math.isfinite(wide_variance) and wide_variance > 0):
      raise PriorError(f'Bad prior {spec!r}: the wide variance must be '
                       f'positive.')
    return 'mixture', (alpha, wide_variance)
  if spec.startswith('py:'):
    try:
      return 'python', python_objects.parse(spec, 'prior')
    except python_objects.PythonObjectError as error:
      raise PriorError(str(error)) from None
  raise PriorError(f'Unknown prior {spec!r}; expected normal, mixture:ALPHA '
                   f'or py:module:attr.')


def _positive_int(value, name):
  if int(value) != value or int(value) < 1:
    raise PriorError(f'{name} must be a positive integer, got {value!r}.')
  return int(value)
