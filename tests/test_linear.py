"""The closed-form linear curve against brute-force integration."""

import numpy as np
import pytest

import tfrd


def _grid_oracle(kernel, bias, x, beta, distortion_fn):
  """log Z, D and R by quadrature on a 2-D latent grid."""
  axis = np.linspace(-7, 7, 701)
  z1, z2 = np.meshgrid(axis, axis, indexing='ij')
  z = np.stack([z1.ravel(), z2.ravel()], axis=1)
  cell = (axis[1] - axis[0])**2
  log_prior = -0.5 * np.sum(z**2, axis=1) - np.log(2 * np.pi)
  d = distortion_fn(x, z @ kernel + bias)
  log_unnormalized = log_prior - beta * d
  shift = log_unnormalized.max()
  weights = np.exp(log_unnormalized - shift)
  log_z = np.log(weights.sum() * cell) + shift
  q = weights / weights.sum()
  distortion = np.sum(q * d)
  rate = np.sum(q * (log_unnormalized - log_z - log_prior))  # KL(q || p)
  return log_z, distortion, rate


@pytest.mark.parametrize('name', ['mse', 'gaussian_nll'])
def test_closed_form_matches_quadrature(name):
  rng = np.random.default_rng(3)
  kernel = rng.normal(size=(2, 5)) * 0.7
  bias = rng.normal(size=5) * 0.1
  x = rng.normal(size=(1, 5))
  if name == 'mse':
    distortion = tfrd.SquaredError()
    fn = lambda x, xh: np.sum((x - xh)**2, axis=-1)
  else:
    distortion = tfrd.GaussianNLL(0.8)
    fn = lambda x, xh: np.sum(
        0.5 * (x - xh)**2 / 0.64 + np.log(0.8) + 0.5 * np.log(2 * np.pi), -1)
  betas = np.array([0.0, 0.3, 1.0, 4.0])
  exact = tfrd.linear_rate_distortion(kernel, bias, x, betas, distortion)
  for i, beta in enumerate(betas):
    log_z, d, r = _grid_oracle(kernel, bias, x[0], beta, fn)
    assert exact.log_z[i, 0] == pytest.approx(log_z, abs=1e-6)
    assert exact.distortion[i, 0] == pytest.approx(d, rel=1e-6)
    assert exact.rate[i, 0] == pytest.approx(r, abs=1e-6)


def test_identity_rate_is_minus_log_z_minus_beta_distortion():
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(4, 30))
  data = rng.normal(size=(3, 30))
  betas = np.geomspace(1e-3, 1e3, 13)
  exact = tfrd.linear_rate_distortion(kernel, np.zeros(30), data, betas,
                                      tfrd.GaussianNLL(0.5))
  np.testing.assert_allclose(
      exact.rate, -exact.log_z - betas[:, None] * exact.distortion,
      rtol=1e-9, atol=1e-8)
  # β = 0: zero rate; the curve's rate grows and distortion falls with β.
  zero = tfrd.linear_rate_distortion(kernel, np.zeros(30), data, [0.0],
                                     tfrd.SquaredError())
  np.testing.assert_allclose(zero.rate, 0.0, atol=1e-12)
  assert np.all(np.diff(exact.rate, axis=0) > 0)
  assert np.all(np.diff(exact.distortion, axis=0) < 0)


def test_rejects_other_distortions_and_bad_shapes():
  with pytest.raises(ValueError, match='closed form'):
    tfrd.linear_rate_distortion(np.ones((2, 3)), np.zeros(3), np.ones((1, 3)),
                                [1.0], tfrd.BernoulliNLL())
  with pytest.raises(ValueError, match='kernel has shape'):
    tfrd.linear_rate_distortion(np.ones((2, 4)), np.zeros(3), np.ones((1, 3)),
                                [1.0], tfrd.SquaredError())


def test_scale_mixture_prior_matches_quadrature():
  rng = np.random.default_rng(5)
  kernel = rng.normal(size=(2, 4)) * 0.6
  x = rng.normal(size=(1, 4))
  alpha, wide = 0.3, 10.0
  betas = np.array([0.2, 2.0])
  exact = tfrd.linear_rate_distortion_scale_mixture(
      kernel, np.zeros(4), x, betas, tfrd.SquaredError(), [1 - alpha, alpha],
      [1.0, np.sqrt(wide)])
  axis = np.linspace(-14, 14, 1401)
  z1, z2 = np.meshgrid(axis, axis, indexing='ij')
  z = np.stack([z1.ravel(), z2.ravel()], axis=1)
  cell = (axis[1] - axis[0])**2
  sq = np.sum(z**2, axis=1)
  prior = ((1 - alpha) * np.exp(-0.5 * sq) / (2 * np.pi) +
           alpha * np.exp(-0.5 * sq / wide) / (2 * np.pi * wide))
  d = np.sum((x[0] - z @ kernel)**2, axis=1)
  for i, beta in enumerate(betas):
    unnormalized = prior * np.exp(-beta * d)
    z_value = unnormalized.sum() * cell
    q = unnormalized / unnormalized.sum()
    assert exact.log_z[i, 0] == pytest.approx(np.log(z_value), abs=1e-5)
    assert exact.distortion[i, 0] == pytest.approx(np.sum(q * d), rel=1e-5)
  with pytest.raises(ValueError, match='sum to 1'):
    tfrd.linear_rate_distortion_scale_mixture(
        kernel, np.zeros(4), x, betas, tfrd.SquaredError(), [0.5, 0.6],
        [1.0, 2.0])
