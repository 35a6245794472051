"""HMC transitions: TFP's leapfrog as oracle, and invariance of a Gaussian."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_probability.python.mcmc.internal import leapfrog_integrator

import tfrd

PRECISION = np.array([[3.0, 0.8, 0.0], [0.8, 2.0, 0.3], [0.0, 0.3, 1.5]])


def _quadratic_target(z):
  """log p(z) = -|z|²/2 (+const), d(z) = ½ zᵀAz: q_β is N(0, (I + βA)⁻¹)."""
  a = tf.constant(PRECISION)
  return tfrd.TargetParts(
      prior_log_prob=-0.5 * tf.reduce_sum(z**2, -1),
      distortion=0.5 * tf.reduce_sum(z * tf.linalg.matvec(a, z), -1),
      grad_prior_log_prob=-z,
      grad_distortion=tf.linalg.matvec(a, z))


def test_leapfrog_matches_tfp_integrator():
  beta = tf.constant(0.7, tf.float64)
  rng = np.random.default_rng(0)
  state = tf.constant(rng.normal(size=(5, 3)))
  momentum = tf.constant(rng.normal(size=(5, 3)))
  step_size = tf.constant(rng.uniform(0.05, 0.3, size=(5, 1)))
  parts = _quadratic_target(state)
  final_state, final_momentum, final_parts = tfrd.leapfrog(
      _quadratic_target, beta, state, parts, momentum, step_size, 7)

  integrator = leapfrog_integrator.SimpleLeapfrogIntegrator(
      lambda z: _quadratic_target(z).log_prob(beta), [step_size], 7)
  tfp_momentum, tfp_state, tfp_target, _ = integrator(
      [momentum], [state])
  np.testing.assert_allclose(final_state, tfp_state[0], rtol=1e-12)
  np.testing.assert_allclose(final_momentum, tfp_momentum[0], rtol=1e-12)
  np.testing.assert_allclose(final_parts.log_prob(beta), tfp_target,
                             rtol=1e-12)


def test_transition_counts_exactly_l_gradient_evaluations():
  calls = []

  def counting_target(z):
    calls.append(1)
    return _quadratic_target(z)

  state = tf.zeros([2, 3], tf.float64)
  parts = _quadratic_target(state)
  tfrd.hmc_transition(counting_target, tf.constant(1.0, tf.float64), state,
                      parts, tf.ones([2, 3], tf.float64),
                      tf.zeros([2], tf.float64), tf.constant([0.1] * 2, tf.float64), 5)
  # Eager while_loop runs the body once per step: L target evaluations.
  assert len(calls) == 5


def test_hmc_keeps_gaussian_moments_with_per_chain_step_sizes():
  beta = tf.constant(2.0, tf.float64)
  covariance = np.linalg.inv(np.eye(3) + 2.0 * PRECISION)
  num_chains = 4000
  rng = np.random.default_rng(1)
  state = tf.constant(rng.multivariate_normal(np.zeros(3), covariance,
                                              size=num_chains))
  step_size = tf.constant(rng.uniform(0.05, 0.4, size=num_chains))

  @tf.function
  def run(state, seed):
    parts = _quadratic_target(state)
    accepted = tf.zeros([num_chains], tf.float64)
    for step in range(20):
      step_seed = tf.random.experimental.stateless_fold_in(seed, step)
      momentum = tf.random.stateless_normal([num_chains, 3], step_seed,
                                            dtype=tf.float64)
      log_uniform = tf.math.log(tf.random.stateless_uniform(
          [num_chains], step_seed + 1, dtype=tf.float64))
      result = tfrd.hmc_transition(_quadratic_target, beta, state, parts,
                                   momentum, log_uniform, step_size, 5)
      state, parts = result.state, result.parts
      accepted += tf.cast(result.is_accepted, tf.float64)
    return state, accepted / 20

  final, accept_rate = run(state, tf.constant([4, 2]))
  final = final.numpy()
  standard_error = np.sqrt(np.diag(covariance) / num_chains)
  assert np.all(np.abs(final.mean(0)) < 4 * standard_error)
  np.testing.assert_allclose(np.cov(final, rowvar=False), covariance,
                             atol=0.15 * np.max(covariance))
  assert 0.5 < float(np.mean(accept_rate)) <= 1.0
  # The chain moved: it is not just the initial samples kept by rejection.
  assert np.mean(np.abs(final - state.numpy()) > 1e-9) > 0.5


def test_nonfinite_proposal_is_rejected():
  def exploding_target(z):
    parts = _quadratic_target(z)
    return parts._replace(distortion=parts.distortion + np.nan)

  state = tf.zeros([3, 3], tf.float64)
  result = tfrd.hmc_transition(
      exploding_target, tf.constant(1.0, tf.float64), state,
      _quadratic_target(state), tf.ones([3, 3], tf.float64),
      tf.constant([-50.0] * 3, tf.float64), tf.constant([0.1] * 3, tf.float64), 2)
  assert not np.any(result.is_accepted.numpy())
  np.testing.assert_array_equal(result.state, state)
  assert np.all(np.isfinite(result.parts.distortion))


@pytest.mark.parametrize('log_accept_ratio, direction', [(0.0, 1), (-5.0, -1)])
def test_adapt_step_size_moves_toward_target(log_accept_ratio, direction):
  step = tf.constant([0.2] * 4, tf.float64)
  new = tfrd.adapt_step_size(step, tf.constant([log_accept_ratio] * 4, tf.float64))
  assert np.all(np.sign(new.numpy() - 0.2) == direction)
