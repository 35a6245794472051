"""The exact curve of a decoder with a 1- or 2-dimensional code, by quadrature.

Why it exists: AIS is validated against closed forms only for linear
decoders (`tfrd.linear`). For a nonlinear decoder with a small code the
integrals that define the curve,

    Z_β(x)  = ∫ p(z) exp(-β d(x, f(z))) dz                        (eq. 14)
    D_β(x)  = E_{q_β}[d(x, f(z))],  q_β(z) ∝ p(z) exp(-β d(x, f(z)))
    R_β(x)  = KL(q_β || p) = -β D_β(x) - log Z_β(x)               (eq. 15)

can be summed on a grid instead: a midpoint rule on [-extent, extent]^D
with `spacing`. That gives an independent reference for AIS on the models
people actually train (the paper's code-size-2 VAEs, GANs and AAEs): AIS's
log Z is a stochastic lower bound, so its rate is an upper bound in
expectation, and the grid says by how much it is loose.

The grid is exact up to two errors it measures itself:

- discretization: the same sums over every second grid point (spacing 2h)
  are kept; `discretization_error` is the largest |log Z_h - log Z_2h|. A
  midpoint rule on a smooth peak converges fast once h is below the peak's
  width, so a small value means the fine grid is converged;
- truncation: `edge_log_weight` is the log of the largest share of Z held
  by one cell on the grid's border, per β and image; strongly negative (say
  < -20) means no mass lies beyond the extent.

Cost invariant: one decoder call per grid point (for all betas and images at
once), (2·extent/spacing)^D calls in chunks of `chunk_size`; the distortion
is evaluated for every (point, image) pair. The prior is the standard normal
of the zoo's models. Test: tests/test_quadrature.py checks the linear
decoder's closed form (`tfrd.linear_rate_distortion`) to 1e-6 relative.
"""

import collections
import math

import numpy as np
import tensorflow as tf

from tfrd import curve as curve_lib
from tfrd import decoders
from tfrd import distortions
from tfrd import linear

__all__ = ['GridCurve', 'grid_rd_curve']

# A beta where every image's log Z moved less than this between spacings h
# and 2h, and no border cell holds more than e^NEGLIGIBLE_EDGE_LOG_SHARE of
# Z, counts as summed exactly (`GridCurve.converged`): both errors are then
# far below AIS's own (tenths of a nat).
CONVERGED_NATS = 0.05
NEGLIGIBLE_EDGE_LOG_SHARE = -20.0

# More dimensions than this would need (2·extent/spacing)^D decoder calls:
# 10^12 for a 3-dimensional code at the grids used here.
MAX_LATENT_DIM = 2

class GridCurve(collections.namedtuple(
    'GridCurve', ['curve', 'distortion_variance', 'discretization_error',
                  'edge_log_weight', 'num_points'])):
  """The quadrature curve and its own error measures.

  Fields:
    curve: `tfrd.RDCurve` with per-image rate, distortion and log Z at the
      requested betas (effective sample sizes set to the grid size).
    distortion_variance: [P, N] Var_q(d), for `tfrd.compare_with_exact`.
    discretization_error: [P, N] |log Z_h - log Z_2h| in nats.
    edge_log_weight: [P, N] log of the largest share of Z in one border
      cell (<= 0).
    num_points: the number of grid points.
  """
  __slots__ = ()

  @property
  def converged(self):
    """[P] bool: the betas at which the grid's value is exact for every
    image (see CONVERGED_NATS)."""
    return converged(self.discretization_error, self.edge_log_weight)

  @property
  def exact(self):
    """The per-image values as a `tfrd.LinearRDCurve`, the form
    `tfrd.compare_with_exact` takes its reference in."""
    return linear.LinearRDCurve(self.curve.betas, self.curve.rate_per_image,
                                self.curve.distortion_per_image,
                                self.curve.log_z_per_image)


def converged(discretization_error, edge_log_weight):
  """[P] bool from the [P, N] error measures of a `GridCurve`."""
  return (np.max(discretization_error, axis=1) <= CONVERGED_NATS) & (
      np.max(edge_log_weight, axis=1) <= NEGLIGIBLE_EDGE_LOG_SHARE)


def grid_rd_curve(decoder, images, distortion, betas, latent_dim, extent=8.0,
                  spacing=0.02, chunk_size=2048):
  """The curve of `decoder` at `betas`, summed on a grid (standard normal
  prior).

  Args:
    decoder: Keras model or callable, codes [B, latent_dim] -> images.
    images: [N, ...] data.
    distortion: a `tfrd.Distortion`.
    betas: [P] inverse temperatures.
    latent_dim: 1 or 2.
    extent: the grid covers [-extent, extent] on every axis.
    spacing: the distance between grid points.
    chunk_size: grid points per decoder call.

  Returns:
    A `GridCurve`.

  Raises:
    ValueError: for latent_dim outside 1..MAX_LATENT_DIM, or a non-positive
      extent, spacing or chunk size.
  """
  if not 1 <= latent_dim <= MAX_LATENT_DIM:
    raise ValueError(f'grid_rd_curve sums over a grid of the code space, '
                     f'which is affordable for latent_dim <= '
                     f'{MAX_LATENT_DIM}; got {latent_dim}. Use AIS.')
  if extent <= 0 or spacing <= 0 or chunk_size < 1:
    raise ValueError(f'extent, spacing and chunk_size must be positive, got '
                     f'{extent}, {spacing}, {chunk_size}.')
  betas = np.asarray(betas, np.float64).reshape(-1)
  images = np.asarray(images, np.float64)
  flat = images.reshape(images.shape[0], -1)
  prepared = distortion.prepare(tf.constant(flat))
  axis = np.arange(-extent + spacing / 2, extent, spacing)
  index = np.stack(np.meshgrid(*[np.arange(axis.size)] * latent_dim,
                               indexing='ij'), -1).reshape(-1, latent_dim)
  sums = _Sums(betas.size, flat.shape[0])
  beta = tf.constant(betas[:, None, None])
  for start in range(0, index.shape[0], chunk_size):
    chunk = index[start:start + chunk_size]
    codes = axis[chunk]
    values = _distortions(decoder, distortion, prepared, codes)  # [C, N]
    log_prior = (-0.5 * np.sum(codes**2, -1) -
                 0.5 * latent_dim * math.log(2 * math.pi))
    log_weights = (tf.constant(log_prior[None, :, None]) -
                   beta * values[None])  # [P, C, N]
    coarse = np.all(chunk % 2 == 0, axis=-1)
    edge = np.any((chunk == 0) | (chunk == axis.size - 1), axis=-1)
    sums.add(*_chunk_sums(log_weights, values, tf.constant(coarse),
                          tf.constant(edge)))
  log_cell = latent_dim * math.log(spacing)
  log_z, mean_distortion, second_moment = sums.result(log_cell)
  coarse_log_z = sums.result(latent_dim * math.log(2 * spacing),
                             coarse=True)[0]
  rate = -betas[:, None] * mean_distortion - log_z
  result = curve_lib.RDCurve(
      betas, rate, mean_distortion, log_z,
      effective_sample_size_per_image=np.full(rate.shape,
                                              float(index.shape[0])),
      is_nll=distortion.is_nll,
      config={'estimator': 'tfrd.quadrature.grid_rd_curve',
              'extent': extent, 'spacing': spacing,
              'latent_dim': latent_dim, 'prior': 'normal',
              'distortion': distortion.get_config()})
  return GridCurve(result, np.maximum(second_moment - mean_distortion**2, 0.0),
                   np.abs(log_z - coarse_log_z),
                   sums.edge_max + log_cell - log_z,
                   index.shape[0])


def _distortions(decoder, distortion, prepared, codes):
  """d(x_n, f(z_c)) [C, N] in float64."""
  outputs = decoders.call_in_inference_mode(
      decoder, tf.constant(codes, tf.float32))
  outputs = tf.cast(tf.reshape(outputs, [codes.shape[0], -1]), tf.float64)
  prepared = tf.cast(prepared, tf.float64)
  if isinstance(distortion, distortions.SquaredError):
    # |x - x̂|² = |x|² - 2 x·x̂ + |x̂|²: one matmul instead of a [C, N, E]
    # tensor; float64 keeps the cancellation harmless (|x|² <= E).
    return tf.maximum(
        tf.reduce_sum(tf.square(prepared), -1)[None] -
        2.0 * tf.matmul(outputs, prepared, transpose_b=True) +
        tf.reduce_sum(tf.square(outputs), -1)[:, None], 0.0)
  return tf.cast(distortion(prepared[None], outputs[:, None]), tf.float64)


@tf.function
def _chunk_sums(log_weights, values, coarse, edge):
  """Per beta and image: (max, Σ exp(w - max), Σ exp(w - max)·d,
  Σ exp(w - max)·d²) over the chunk and over its spacing-2h points, and the
  max on the border."""
  def sums(weights, chunk_values):
    top = tf.reduce_max(weights, axis=1)
    scaled = tf.exp(weights - top[:, None])
    weighted = scaled * chunk_values[None]
    return (top, tf.reduce_sum(scaled, 1), tf.reduce_sum(weighted, 1),
            tf.reduce_sum(weighted * chunk_values[None], 1))
  full = sums(log_weights, values)
  sub = sums(tf.boolean_mask(log_weights, coarse, axis=1),
             tf.boolean_mask(values, coarse))
  border = tf.reduce_max(tf.boolean_mask(log_weights, edge, axis=1), axis=1)
  return full, sub, border


class _Sums:
  """Streaming log-sum-exp of the weights (all points, and the spacing-2h
  sub-grid) and of weight × distortion and × distortion², per beta and
  image."""

  def __init__(self, num_betas, num_images):
    shape = (num_betas, num_images)
    self.max = [np.full(shape, -np.inf), np.full(shape, -np.inf)]
    # Per grid: [Σ w, Σ w·d, Σ w·d²], each scaled by exp(-max).
    self.moments = [[np.zeros(shape)] * 3, [np.zeros(shape)] * 3]
    self.edge_max = np.full(shape, -np.inf)

  def add(self, full, sub, border):
    for which, (top, *moments) in enumerate((full, sub)):
      top = top.numpy()
      if not np.all(np.isfinite(top)):
        continue  # a chunk without sub-grid points
      new_max = np.maximum(self.max[which], top)
      old, new = np.exp(self.max[which] - new_max), np.exp(top - new_max)
      self.moments[which] = [total * old + moment.numpy() * new
                             for total, moment in zip(self.moments[which],
                                                      moments)]
      self.max[which] = new_max
    self.edge_max = np.maximum(self.edge_max, border.numpy())

  def result(self, log_cell, coarse=False):
    """(log Z, E_q[d], E_q[d²]), each [P, N]."""
    which = int(coarse)
    total, weighted, squared = self.moments[which]
    log_z = self.max[which] + np.log(total) + log_cell
    return log_z, weighted / total, squared / total
