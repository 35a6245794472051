"""tfrd.compare_with_exact's Monte Carlo allowance: the exact posterior variance."""

import numpy as np

import tfrd
from tfrd import linear


def _importance_moments(kernel, bias, image, beta, num_samples, seed):
  """E_q[d] and Var_q[d] by self-normalized importance sampling from p(z)."""
  rng = np.random.default_rng(seed)
  latents = rng.standard_normal((num_samples, kernel.shape[0]))
  distortion = np.sum((image - latents @ kernel - bias) ** 2, axis=1)
  log_weights = -beta * distortion
  weights = np.exp(log_weights - log_weights.max())
  weights /= weights.sum()
  mean = np.sum(weights * distortion)
  return mean, np.sum(weights * (distortion - mean) ** 2)


def test_distortion_variance_matches_importance_sampling():
  rng = np.random.default_rng(3)
  kernel = rng.normal(size=(2, 5)) * 0.7
  bias = rng.normal(size=5) * 0.1
  images = rng.normal(size=(2, 5))
  betas = np.array([0.05, 0.3, 1.0])
  variance = tfrd.linear_distortion_variance(
      kernel, bias, images, betas, tfrd.SquaredError())
  exact = tfrd.linear_rate_distortion(kernel, bias, images, betas,
                                      tfrd.SquaredError())
  assert variance.shape == (3, 2)
  for k, beta in enumerate(betas):
    for i, image in enumerate(images):
      mean, sampled_variance = _importance_moments(
          kernel, bias, image, beta, 400_000, seed=10 * k + i)
      np.testing.assert_allclose(mean, exact.distortion[k, i], rtol=0.01)
      np.testing.assert_allclose(variance[k, i], sampled_variance, rtol=0.03)


def test_distortion_stderr_is_the_standard_error_of_the_image_mean():
  variance = np.array([[4.0, 16.0], [1.0, 1.0]])
  stderr = linear.distortion_stderr(variance, effective_chains=[4, 1])
  # Image means of independent per-image means with variance var/chains.
  np.testing.assert_allclose(stderr, [np.sqrt(1.0 + 4.0) / 2,
                                      np.sqrt(2.0) / 2])
  # Fewer than one effective chain is counted as one.
  np.testing.assert_allclose(
      linear.distortion_stderr(variance, [0.2, 0.5]),
      linear.distortion_stderr(variance, [1, 1]))


class _Curve:
  """The fields of an RDCurve that the comparison reads."""

  def __init__(self, rate, distortion, effective_sample_size_per_image):
    self.rate = np.asarray(rate, np.float64)
    self.distortion = np.asarray(distortion, np.float64)
    self.effective_sample_size_per_image = np.asarray(
        effective_sample_size_per_image, np.float64)


def test_compare_with_exact_allows_the_monte_carlo_noise_of_d():
  exact = tfrd.LinearRDCurve(
      betas=np.array([0.1, 10.0]), rate=np.array([[1.0, 3.0], [20.0, 22.0]]),
      distortion=np.array([[50.0, 70.0], [10.0, 10.0]]),
      log_z=np.zeros((2, 2)))
  variance = np.array([[400.0, 400.0], [0.0, 0.0]])
  ess = np.full((2, 2), 4.0)
  stderr = np.sqrt(2 * 400.0 / 4.0) / 2  # 7.07 at the first point
  # D off by 3% + 3 s.e. at β = 0.1: outside a fixed 3%, inside 3% + 4 s.e.
  curve = _Curve([2.0, 21.0], [60.0 + 1.8 + 3 * stderr, 10.0], ess)
  comparison = tfrd.compare_with_exact(curve, exact, variance)
  np.testing.assert_allclose(comparison.distortion_mc_stderr, [stderr, 0.0])
  np.testing.assert_allclose(comparison.distortion_allowed,
                             [1.8 + 4 * stderr, 0.3])
  assert comparison.within_tolerance
  assert not tfrd.compare_with_exact(
      curve, exact, variance, distortion_tolerance_stderrs=0).within_tolerance
  # A rate error beyond 0.3 nats + 3% fails whatever the distortion.
  assert not tfrd.compare_with_exact(
      _Curve([2.0, 21.0 + 1.0], [60.0, 10.0], ess), exact,
      variance).within_tolerance
