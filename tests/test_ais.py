"""AIS against exact oracles: the linear closed form, β = 0, unbiased Ẑ."""

import numpy as np
import pytest
import tensorflow as tf

import tfrd


def _schedule(num_points=8, beta_max=100.0, base=600):
  return tfrd.build_schedule(
      tfrd.rd_point_betas(num_points, beta_max, beta_min=0.05),
      tfrd.sigmoid_betas(base, beta_max), min_before_first=100, min_between=5)


def _chains(num_chains, num_leapfrog_steps, seed=0, **hmc):
  return tfrd.ChainSettings(num_chains=num_chains, seed=seed,
                            hmc=tfrd.HMCSettings(
                                num_leapfrog_steps=num_leapfrog_steps, **hmc))


@pytest.fixture(scope='module')
def mse_curve(small_linear_problem):
  problem = small_linear_problem
  return tfrd.estimate_rd_curve(
      problem.keras_model(), problem.data, 'mse', _schedule(),
      latent_dim=problem.latent_dim, chains=_chains(32, 5, seed=3))


def _accurate_curve(problem, distortion, seed):
  # Many chains on two images: the Monte Carlo error of the image average is
  # then small enough (about 0.05 nats, 2% distortion) for tight tolerances.
  schedule = tfrd.build_schedule(
      tfrd.rd_point_betas(8, 100.0, beta_min=0.05),
      tfrd.sigmoid_betas(1500, 100.0), min_before_first=400, min_between=10)
  return tfrd.estimate_rd_curve(
      problem.keras_model(), problem.data[:2], distortion, schedule,
      latent_dim=problem.latent_dim, chains=_chains(256, 5, seed=seed))


@pytest.mark.parametrize('name', ['mse', 'gaussian_nll'])
def test_ais_matches_closed_form(small_linear_problem, name):
  problem = small_linear_problem
  distortion = (tfrd.SquaredError() if name == 'mse'
                else tfrd.GaussianNLL(0.5))
  curve = _accurate_curve(problem, distortion, seed=4)
  exact = tfrd.linear_rate_distortion(problem.kernel, problem.bias,
                                      problem.data[:2], curve.betas,
                                      distortion)
  rate_exact, distortion_exact = exact.rate.mean(1), exact.distortion.mean(1)
  np.testing.assert_allclose(curve.rate, rate_exact, atol=0.2, rtol=0.03)
  np.testing.assert_allclose(curve.distortion, distortion_exact, rtol=0.08)
  # log Ẑ is a stochastic lower bound: at most noise above, a little below.
  log_z_gap = exact.log_z.mean(1) - curve.log_z
  assert np.all(log_z_gap > -0.1) and np.all(log_z_gap < 0.3), log_z_gap
  # eq. 15 holds by construction for the estimates too.
  np.testing.assert_allclose(
      curve.rate, -curve.log_z - curve.betas * curve.distortion, rtol=1e-9)
  if name == 'gaussian_nll':
    assert curve.is_nll and 1.0 in curve.betas.tolist()
    assert curve.log_likelihood == pytest.approx(
        float(exact.log_z[curve.betas == 1.0].mean()), abs=0.1)


def test_curve_is_monotone(mse_curve):
  assert np.all(np.diff(mse_curve.rate) > 0)
  assert np.all(np.diff(mse_curve.distortion) < 0)
  assert np.all(mse_curve.accept_rate > 0.3)


def test_beta_near_zero_gives_zero_rate_and_prior_distortion(
    small_linear_problem):
  problem = small_linear_problem
  schedule = tfrd.build_schedule([1e-6, 1e-3], min_before_first=3,
                                 min_between=3)
  curve = tfrd.estimate_rd_curve(
      problem.keras_model(), problem.data, 'mse', schedule,
      latent_dim=problem.latent_dim,
      chains=_chains(512, 3, step_size_mode='fixed'))
  assert np.all(np.abs(curve.rate_per_image[0]) < 1e-4)
  exact = tfrd.linear_rate_distortion(problem.kernel, problem.bias,
                                      problem.data, [0.0], tfrd.SquaredError())
  # At β ≈ 0 the chains are prior samples: D̂ is a plain Monte Carlo mean.
  np.testing.assert_allclose(curve.distortion[0], exact.distortion.mean(),
                             rtol=0.05)


def test_log_z_estimate_is_unbiased_on_gaussian_target(small_linear_problem):
  problem = small_linear_problem
  # The same image 400 times, each copy with its own random stream, one
  # chain each: Ẑ = w, whose mean must match the exact Z.
  replicas = np.repeat(problem.data[:1], 400, axis=0)
  schedule = tfrd.build_schedule([2.0], tfrd.linear_betas(20, 2.0), 0, 0)
  curve = tfrd.estimate_rd_curve(
      problem.keras_model(), replicas, 'mse', schedule,
      latent_dim=problem.latent_dim,
      chains=_chains(1, 3, seed=5, step_size_mode='fixed',
                     initial_step_size=0.2))
  exact_log_z = tfrd.linear_rate_distortion(
      problem.kernel, problem.bias, problem.data[:1], [2.0],
      tfrd.SquaredError()).log_z[0, 0]
  ratios = np.exp(curve.log_z_per_image[0] - exact_log_z)
  standard_error = ratios.std(ddof=1) / np.sqrt(ratios.size)
  assert abs(ratios.mean() - 1.0) < 4 * standard_error + 1e-3
  # The short chain is deliberately poor: log Ẑ itself is biased low (Jensen).
  assert np.mean(curve.log_z_per_image[0]) < exact_log_z


def test_same_seed_reproduces_and_images_are_batch_invariant(
    small_linear_problem):
  problem = small_linear_problem
  chains = _chains(8, 3, seed=7, step_size_mode='adaptive')
  kwargs = dict(latent_dim=problem.latent_dim)
  schedule = _schedule(num_points=3, base=100)
  model = problem.keras_model()
  full = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                chains=chains, **kwargs)
  again = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                 chains=chains, **kwargs)
  np.testing.assert_array_equal(full.rate_per_image, again.rate_per_image)
  subset = tfrd.estimate_rd_curve(model, problem.data[2:], 'mse', schedule,
                                  chains=chains, image_indices=[2, 3],
                                  **kwargs)
  np.testing.assert_allclose(subset.rate_per_image, full.rate_per_image[:, 2:],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(subset.distortion_per_image,
                             full.distortion_per_image[:, 2:], rtol=1e-5)
  other = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                 chains=chains._replace(seed=8), **kwargs)
  assert not np.allclose(other.rate_per_image, full.rate_per_image)


def test_step_size_table_replays_the_reported_run(small_linear_problem,
                                                  mse_curve):
  problem = small_linear_problem
  # Only plain HMC's step sizes replay alone (a Hessian run's are in its
  # mass matrices' units).
  with pytest.raises(ValueError, match='step-size table'):
    tfrd.estimate_rd_curve(
        problem.keras_model(), problem.data, 'mse', _schedule(),
        latent_dim=problem.latent_dim,
        chains=_chains(32, 5, seed=3)._replace(
            step_size_table=mse_curve.step_size_table))
  chains = _chains(32, 5, seed=3, mass_matrix='identity')
  reference = tfrd.estimate_rd_curve(
      problem.keras_model(), problem.data, 'mse', _schedule(),
      latent_dim=problem.latent_dim, chains=chains)
  replay = tfrd.estimate_rd_curve(
      problem.keras_model(), problem.data, 'mse', _schedule(),
      latent_dim=problem.latent_dim,
      chains=chains._replace(step_size_table=reference.step_size_table))
  np.testing.assert_allclose(replay.rate_per_image, reference.rate_per_image,
                             rtol=1e-6)
  assert replay.config['step_size_mode'] == 'table'
  with pytest.raises(ValueError, match='step-size table has shape'):
    tfrd.estimate_rd_curve(
        problem.keras_model(), problem.data[:2], 'mse', _schedule(),
        latent_dim=problem.latent_dim,
        chains=chains._replace(step_size_table=reference.step_size_table))


def test_decoder_returning_nan_is_reported(small_linear_problem):
  problem = small_linear_problem

  def nan_decoder(latents):
    return tf.fill([tf.shape(latents)[0], problem.data.shape[1]], np.nan)

  with pytest.raises(tfrd.DecoderOutputError, match='NaN'):
    tfrd.estimate_rd_curve(nan_decoder, problem.data, 'mse', _schedule(),
                           latent_dim=problem.latent_dim,
                           chains=tfrd.ChainSettings(num_chains=2))
