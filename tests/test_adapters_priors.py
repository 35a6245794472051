"""Priors, the Gaussian blur, and the §6.2 failure modes on a linear decoder.

Oracles: NumPy formulas for densities and the blur; for curves, the linear
closed form (`tfrd.linear_rate_distortion`). A blurred linear decoder is
still linear (blur each row of the kernel), and with the mixture prior
(1 - α)·N(0, I) + α·N(0, s²I) the channel q_β is a two-component Gaussian
mixture whose components are the closed form for the kernels A and s·A.
"""

import json
import math
import sys

import numpy as np
import pytest
import tensorflow as tf

from adapters import manipulations
from adapters import models
from adapters import priors
import tfrd

# --- NumPy references. ---


def _normal_log_prob(z, variance):
  return -0.5 * np.sum(z**2 / variance + np.log(2 * np.pi * variance), -1)


def _mixture_log_prob(z, alpha, wide_variance=10.0):
  return np.logaddexp(np.log1p(-alpha) + _normal_log_prob(z, 1.0),
                      np.log(alpha) + _normal_log_prob(z, wide_variance))


def _blur_reference(image, sigma, padding):
  """Direct 2-D convolution of an [H, W, C] image, NumPy only."""
  radius = int(math.ceil(3 * sigma))
  offsets = np.arange(-radius, radius + 1)
  weights = np.exp(-offsets**2 / (2 * sigma**2))
  kernel = np.outer(weights, weights) / weights.sum()**2
  mode = 'reflect' if padding == 'reflect' else 'constant'
  padded = np.pad(image, [(radius, radius), (radius, radius), (0, 0)], mode)
  height, width, _ = image.shape
  out = np.zeros_like(image, dtype=np.float64)
  for i in range(height):
    for j in range(width):
      window = padded[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
      out[i, j] = np.tensordot(kernel, window, axes=([0, 1], [0, 1]))
  return out


def _mixture_closed_form(kernel, bias, data, betas, alpha, wide_variance):
  """Exact R, D, log Z [P, N], squared error, prior (1 - α)N(0, I) + αN(0, vI).

  With z = s·u, the component N(0, s²I) and kernel A is the standard normal
  prior with kernel s·A: Z = Σ_k π_k Z_k and D = Σ_k (π_k Z_k / Z) D_k.
  """
  kernel = np.asarray(kernel, np.float64)
  parts = [tfrd.linear_rate_distortion(scale * kernel, bias, data, betas,
                                       tfrd.SquaredError())
           for scale in (1.0, math.sqrt(wide_variance))]
  log_terms = np.stack([math.log(weight) + part.log_z for weight, part in
                        zip((1.0 - alpha, alpha), parts)])
  log_z = np.logaddexp(log_terms[0], log_terms[1])
  responsibility = np.exp(log_terms - log_z)
  distortion = np.sum(responsibility *
                      np.stack([part.distortion for part in parts]), 0)
  rate = -log_z - np.asarray(betas)[:, None] * distortion
  return rate, distortion, log_z


# --- Priors. ---

_POINTS = np.array([[0.0, 0.0, 0.0], [0.3, -1.2, 2.0], [4.0, -5.0, 6.0],
                    [20.0, 0.1, -0.2]])


@pytest.mark.parametrize('alpha', [0.0, 0.3, 0.99, 1.0])
def test_mixture_log_prob_matches_formula(alpha):
  prior = priors.damaged_mixture_prior(3, alpha)
  assert prior.dtype == tf.float64
  assert tuple(prior.event_shape) == (3,) and not tuple(prior.batch_shape)
  with np.errstate(divide='ignore'):
    expected = _mixture_log_prob(_POINTS, alpha)
  np.testing.assert_allclose(prior.log_prob(_POINTS).numpy(), expected,
                             rtol=1e-12)


def test_gaussian_priors_match_formula():
  np.testing.assert_allclose(
      priors.standard_normal(3).log_prob(_POINTS).numpy(),
      _normal_log_prob(_POINTS, 1.0), rtol=1e-12)
  loc, scale = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.5])
  expected = _normal_log_prob((_POINTS - loc) / scale, 1.0) - np.log(
      scale).sum()
  np.testing.assert_allclose(
      priors.diagonal_gaussian(loc, scale).log_prob(_POINTS).numpy(),
      expected, rtol=1e-12)


def test_mixture_gradient_matches_finite_differences():
  prior = priors.damaged_mixture_prior(3, 0.7)
  z = tf.constant(_POINTS)
  with tf.GradientTape() as tape:
    tape.watch(z)
    log_prob = prior.log_prob(z)
  gradient = tape.gradient(log_prob, z).numpy()
  assert np.all(np.isfinite(gradient))
  step = 1e-6
  numeric = np.zeros_like(_POINTS)
  for dim in range(3):
    shift = np.zeros(3)
    shift[dim] = step
    numeric[:, dim] = (_mixture_log_prob(_POINTS + shift, 0.7) -
                       _mixture_log_prob(_POINTS - shift, 0.7)) / (2 * step)
  np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


def test_mixture_sampling_moments():
  alpha, wide_variance, num = 0.4, 10.0, 40000
  prior = priors.damaged_mixture_prior(2, alpha, wide_variance)
  seed = tf.constant([7, 11], tf.int32)  # stateless, as tfrd draws them
  samples = prior.sample(num, seed=seed).numpy()
  np.testing.assert_array_equal(samples, prior.sample(num, seed=seed).numpy())
  variance = (1 - alpha) + alpha * wide_variance
  np.testing.assert_allclose(samples.mean(0), 0.0, atol=0.06)
  np.testing.assert_allclose(samples.var(0), variance, rtol=0.05)
  # One component per sample, not per coordinate: E[z1² z2²] is
  # (1 - α) + α v² = 40.6, where independent coordinates would give 19.4.
  cross = np.mean(samples[:, 0]**2 * samples[:, 1]**2)
  assert cross == pytest.approx((1 - alpha) + alpha * wide_variance**2,
                                rel=0.15)


_PRIOR_MODULE = '''
import tensorflow_probability as tfp

WIDE = tfp.distributions.MultivariateNormalDiag(scale_diag=[2.0, 2.0, 2.0])


def laplace(latent_dim):
  return tfp.distributions.Independent(
      tfp.distributions.Laplace([0.0] * latent_dim, 1.0), 1)
'''


def test_prior_from_spec(tmp_path, monkeypatch):
  assert isinstance(priors.prior_from_spec('normal', 3),
                    type(priors.standard_normal(3)))
  mixture = priors.prior_from_spec('mixture:0.25:5', 3)
  np.testing.assert_allclose(mixture.log_prob(_POINTS).numpy(),
                             _mixture_log_prob(_POINTS, 0.25, 5.0),
                             rtol=1e-12)
  np.testing.assert_allclose(
      priors.prior_from_spec('mixture:0.25', 3).log_prob(_POINTS).numpy(),
      _mixture_log_prob(_POINTS, 0.25), rtol=1e-12)
  (tmp_path / 'tfrd_test_priors.py').write_text(_PRIOR_MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  wide = priors.prior_from_spec('py:tfrd_test_priors:WIDE', 3)
  assert wide is sys.modules['tfrd_test_priors'].WIDE
  laplace = priors.prior_from_spec('py:tfrd_test_priors:laplace', 3)
  assert tuple(laplace.event_shape) == (3,)
  for spec, message in (('mixture:1.5', 'alpha must be in'),
                        ('mixture:x', 'Bad prior'), ('cauchy', 'Unknown prior'),
                        ('py:tfrd_test_priors:WIDE', 'event shape'),
                        ('py:tfrd_test_priors:nope', 'no attribute'),
                        ('py:tfrd_no_such_module:x', 'Could not import')):
    with pytest.raises(priors.PriorError, match=message):
      priors.prior_from_spec(spec, 4 if 'WIDE' in spec else 3)
  description = priors.describe_prior_spec('mixture:0.5')
  assert description['alpha'] == 0.5 and description['wide_variance'] == 10.0
  json.dumps(description)


# --- Blur. ---


@pytest.mark.parametrize('padding', ['reflect', 'zero'])
def test_blur_of_a_delta_matches_numpy(padding):
  image = np.zeros((9, 11, 2))
  image[4, 5, 0] = 1.0  # centre of channel 0
  image[1, 2, 1] = 1.0  # near a corner of channel 1: the padding shows
  blurred = manipulations.blur_images(image[None], 1.0, padding).numpy()[0]
  np.testing.assert_allclose(blurred, _blur_reference(image, 1.0, padding),
                             rtol=1e-12, atol=1e-15)
  assert blurred[..., 0].sum() == pytest.approx(1.0, abs=1e-12)
  assert blurred[4, 5, 0] == blurred[..., 0].max()
  constant = manipulations.blur_images(np.full((1, 9, 11, 1), 0.5), 1.0,
                                       'reflect').numpy()
  np.testing.assert_allclose(constant, 0.5, rtol=1e-12)


def _image_decoder(kernel, bias, image_shape):
  kernel, bias = tf.constant(kernel), tf.constant(bias)
  return models.decoder_from_object(
      lambda z: tf.reshape(tf.matmul(z, kernel) + bias, (-1,) + image_shape),
      latent_dim=kernel.shape[0])


def test_blur_sigma_zero_is_identity_and_errors():
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 36)).astype(np.float32)
  decoder = _image_decoder(kernel, np.zeros(36, np.float32), (6, 6, 1))
  same = manipulations.gaussian_blur(decoder, 0.0)
  latents = tf.constant(rng.normal(size=(5, 3)), tf.float32)
  np.testing.assert_array_equal(same(latents).numpy(), decoder(latents).numpy())
  assert same.transforms[-1]['sigma'] == 0.0
  with pytest.raises(ValueError, match='does not fit'):
    manipulations.gaussian_blur(decoder, 2.0)  # radius 6 in a 6×6 image
  with pytest.raises(ValueError, match='>= 0'):
    manipulations.gaussian_blur(decoder, -1.0)
  flat = models.decoder_from_object(lambda z: tf.matmul(z, kernel),
                                    latent_dim=3)
  with pytest.raises(models.ModelError, match='give image_shape'):
    manipulations.gaussian_blur(flat, 1.0)
  blurred_flat = manipulations.gaussian_blur(flat, 1.0, image_shape=(6, 6))
  assert blurred_flat.output_shape == (36,)


# --- §6.2 on a linear decoder: blur hurts high rates, the prior low rates. ---

_H, _W = 6, 6
_BETAS = np.array([0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0])


@pytest.fixture(scope='module')
def image_problem():
  """A linear decoder to 6×6 images with sharp (pixel-scale) features."""
  rng = np.random.default_rng(1)
  latent_dim, size = 3, _H * _W
  kernel = (rng.normal(size=(latent_dim, size)) * 0.4).astype(np.float32)
  bias = rng.uniform(0.3, 0.7, size=size).astype(np.float32)
  data = (rng.normal(size=(4, latent_dim)) @ kernel + bias +
          0.05 * rng.normal(size=(4, size))).astype(np.float32)
  return kernel, bias, data.reshape(-1, _H, _W, 1)


def _ais_schedule():
  # Short, so the file stays fast: the margins below (about 3 standard
  # deviations over seeds 0-5 of this setting, two-pass step sizes) check the
  # adapters' wiring, not AIS's precision, which tests/test_ais.py covers.
  return tfrd.build_schedule([0.01, 0.1, 1.0, 10.0],
                             tfrd.geometric_betas(200, 10.0, 0.01),
                             min_before_first=20, min_between=5)


def _blurred_linear(kernel, bias, sigma):
  """The blurred decoder's kernel and bias: each row blurred as an image."""
  blur = lambda row: _blur_reference(row.reshape(_H, _W, 1), sigma,
                                     'reflect').reshape(-1)
  return np.stack([blur(row) for row in kernel]), blur(bias)


def test_blur_raises_the_distortion_floor(image_problem):
  kernel, bias, data = image_problem
  decoder = manipulations.gaussian_blur(
      _image_decoder(kernel, bias, (_H, _W, 1)), 1.0)
  blurred_kernel, blurred_bias = _blurred_linear(kernel, bias, 1.0)
  latents = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
  np.testing.assert_allclose(
      decoder(tf.constant(latents)).numpy().reshape(5, -1),
      latents @ blurred_kernel + blurred_bias, rtol=1e-5, atol=1e-6)

  mse = tfrd.SquaredError()
  sharp = tfrd.linear_rate_distortion(kernel, bias, data, _BETAS, mse)
  blurred = tfrd.linear_rate_distortion(blurred_kernel, blurred_bias, data,
                                        _BETAS, mse)
  sharp_d, blurred_d = sharp.distortion.mean(1), blurred.distortion.mean(1)
  # High rates (β = 1000): the blurred decoder cannot reach the data.
  assert blurred_d[-1] > 20 * sharp_d[-1], (blurred_d, sharp_d)
  assert blurred_d[-1] > 5.0
  # Low rates (β = 0.01, rate ≈ 0 for both): not hurt; as the paper notes,
  # blurring even lowers the distortion of near-zero-rate reconstructions.
  assert sharp.rate.mean(1)[0] < 0.05 and blurred.rate.mean(1)[0] < 0.05
  assert blurred_d[0] <= sharp_d[0]

  # AIS through the blurred adapter reproduces the blurred closed form.
  curve = tfrd.estimate_rd_curve(
      decoder, data, 'mse', _ais_schedule(), latent_dim=3,
      chains=tfrd.ChainSettings(num_chains=16, jit_compile=False,
                                hmc=tfrd.HMCSettings(num_leapfrog_steps=5)))
  exact = tfrd.linear_rate_distortion(blurred_kernel, blurred_bias, data,
                                      curve.betas, mse)
  np.testing.assert_allclose(curve.rate, exact.rate.mean(1), atol=0.3,
                             rtol=0.05)
  np.testing.assert_allclose(curve.distortion, exact.distortion.mean(1),
                             rtol=0.1)


def _rate_at(distortions, rates, targets):
  """Interpolates a curve's rate at given distortions (D falls as β grows)."""
  return np.interp(targets, distortions[::-1], rates[::-1])


def test_damaged_prior_hurts_low_rates(image_problem):
  kernel, bias, data = image_problem
  alpha, wide_variance = 0.5, 10.0
  mse = tfrd.SquaredError()
  standard = tfrd.linear_rate_distortion(kernel, bias, data, _BETAS, mse)
  standard_r, standard_d = standard.rate.mean(1), standard.distortion.mean(1)
  rate, distortion, _ = _mixture_closed_form(kernel, bias, data, _BETAS,
                                             alpha, wide_variance)
  mixture_r, mixture_d = rate.mean(1), distortion.mean(1)
  # At matched distortion the mixture never costs more than -log(1 - α)
  # extra nats (p_mix ≥ (1 - α)·p).
  matched = _rate_at(mixture_d, mixture_r, standard_d[1:])
  assert np.all(matched - standard_r[1:] <= -math.log1p(-alpha) + 1e-9)
  # Low rates: the good prior reaches this distortion almost for free, the
  # damaged one pays a large multiple of that.
  assert standard_r[1] < 0.1
  assert matched[0] - standard_r[1] > 0.4
  assert matched[0] > 5 * standard_r[1]
  # High rates: the same distortion costs nearly the same rate.
  assert abs(matched[-1] - standard_r[-1]) < 0.06 * standard_r[-1]
  # Garbage samples: at β ≈ 0 the damaged prior's reconstructions are far
  # off.
  assert mixture_d[0] > 1.5 * standard_d[0]

  # AIS with the damaged prior against the mixture closed form.
  # More chains than for the blur: at β ≈ 0 the wide component's heavy
  # distortion tail makes D̂ noisy.
  prior = priors.damaged_mixture_prior(3, alpha, wide_variance)
  curve = tfrd.estimate_rd_curve(
      _image_decoder(kernel, bias, (_H, _W, 1)), data, 'mse', _ais_schedule(),
      prior=prior,
      chains=tfrd.ChainSettings(num_chains=64, jit_compile=False,
                                hmc=tfrd.HMCSettings(num_leapfrog_steps=5)))
  rate, distortion, _ = _mixture_closed_form(kernel, bias, data, curve.betas,
                                             alpha, wide_variance)
  np.testing.assert_allclose(curve.rate, rate.mean(1), atol=0.3, rtol=0.05)
  np.testing.assert_allclose(curve.distortion, distortion.mean(1), rtol=0.15)
  # The same statement, from the AIS curve: at the standard prior's β = 0.1
  # distortion, the damaged prior needs clearly more rate.
  standard_at = tfrd.linear_rate_distortion(kernel, bias, data, [0.1], mse)
  ais_matched = _rate_at(curve.distortion, curve.rate,
                         standard_at.distortion.mean())
  assert ais_matched - standard_at.rate.mean() > 0.3
