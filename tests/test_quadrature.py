"""tfrd.quadrature.grid_rd_curve against the closed form of a linear decoder,
and its own measures of discretization and truncation."""

import numpy as np
import pytest

import tfrd
from tfrd import quadrature

import app_runner  # pylint: disable=g-bad-import-order


def _decoder(path, kernel, bias):
  import keras  # pylint: disable=g-import-not-at-top
  return keras.saving.load_model(app_runner.save_linear_decoder(
      path, kernel.astype(np.float32), bias.astype(np.float32)))


def _linear(latent_dim, seed=0, num_pixels=12, num_images=3):
  rng = np.random.default_rng(seed)
  kernel = rng.normal(0.0, 0.3, (latent_dim, num_pixels))
  bias = rng.normal(0.0, 0.1, num_pixels)
  images = (rng.normal(0.0, 1.0, (num_images, latent_dim)) @ kernel + bias +
            rng.normal(0.0, 0.2, (num_images, num_pixels)))
  return kernel, bias, images


@pytest.mark.parametrize('latent_dim', [1, 2])
@pytest.mark.parametrize('distortion', [tfrd.SquaredError(),
                                        tfrd.GaussianNLL(0.5)])
def test_matches_the_linear_closed_form(latent_dim, distortion, tmp_path):
  kernel, bias, images = _linear(latent_dim)
  decoder = _decoder(str(tmp_path / 'linear.keras'), kernel, bias)
  # The decoder computes in float32; the closed form uses its exact weights.
  kernel, bias = (np.asarray(w, np.float64) for w in decoder.get_weights())
  betas = np.array([0.1, 1.0, 10.0, 100.0])
  grid = quadrature.grid_rd_curve(decoder, images, distortion, betas,
                                  latent_dim, extent=9.0, spacing=0.01,
                                  chunk_size=4096)
  exact = tfrd.linear_rate_distortion(kernel, bias, images, betas,
                                      distortion)
  np.testing.assert_allclose(grid.curve.log_z_per_image, exact.log_z,
                             rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(grid.curve.rate_per_image, exact.rate,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grid.curve.distortion_per_image,
                             exact.distortion, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      grid.distortion_variance,
      tfrd.linear_distortion_variance(kernel, bias, images, betas,
                                      distortion), rtol=1e-3, atol=1e-7)
  assert np.all(grid.discretization_error < 1e-5)
  assert np.all(grid.edge_log_weight < -20)
  assert np.all(grid.converged)
  assert grid.num_points == 1800**latent_dim


def test_reports_a_grid_too_coarse_or_too_small(tmp_path):
  kernel, bias, images = _linear(2, seed=1)
  decoder = _decoder(str(tmp_path / 'linear.keras'), kernel, bias)
  betas = np.array([1000.0])
  coarse = quadrature.grid_rd_curve(decoder, images, tfrd.SquaredError(),
                                    betas, 2, extent=6.0, spacing=0.5)
  assert np.max(coarse.discretization_error) > 1e-2
  assert not np.any(coarse.converged)
  small = quadrature.grid_rd_curve(decoder, images * 0 + 5.0,
                                   tfrd.SquaredError(), [1.0], 2,
                                   extent=0.5, spacing=0.01)
  assert np.max(small.edge_log_weight) > -10  # a good grid: < -20
  assert not np.any(small.converged)


def test_refuses_codes_too_large_to_grid():
  with pytest.raises(ValueError, match='latent_dim <= 2'):
    quadrature.grid_rd_curve(lambda z: z, np.zeros((1, 3)),
                             tfrd.SquaredError(), [1.0], 3)
