"""apps.linear_vae's Monte Carlo allowance: the exact posterior variance."""

import numpy as np

from apps import linear_vae
import tfrd


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
  variance = linear_vae.exact_distortion_variance(
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
  stderr = linear_vae.distortion_stderr(variance, effective_chains=[4, 1])
  # Image means of independent per-image means with variance var/chains.
  np.testing.assert_allclose(stderr, [np.sqrt(1.0 + 4.0) / 2,
                                      np.sqrt(2.0) / 2])
  # Fewer than one effective chain is counted as one.
  np.testing.assert_allclose(
      linear_vae.distortion_stderr(variance, [0.2, 0.5]),
      linear_vae.distortion_stderr(variance, [1, 1]))
