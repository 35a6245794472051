"""tfrd.passes: the one rule for the passes a run makes and what they cost,
checked against the decoder calls a real run makes; HMCSettings."""

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import passes


def test_pass_plans():
  two_pass = passes.plan_passes('two_pass')
  assert [p.phase for p in two_pass] == ['preliminary', 'reported']
  assert [p.adapt for p in two_pass] == [True, False]
  assert two_pass[1].step_sizes == 'preliminary'
  assert two_pass[0].seed_tag != two_pass[1].seed_tag
  assert [(p.phase, p.adapt) for p in passes.plan_passes('adaptive')] == [
      ('reported', True)]
  assert [(p.phase, p.adapt) for p in passes.plan_passes('fixed')] == [
      ('reported', False)]
  for mode in tfrd.hmc.STEP_SIZE_MODES:
    given = passes.plan_passes(mode, has_step_size_table=True)
    assert [(p.adapt, p.step_sizes) for p in given] == [(False, 'given')]
  assert passes.num_passes('two_pass') == 2
  assert passes.num_passes('two_pass', has_step_size_table=True) == 1
  assert passes.decoder_gradients_per_chain(100, 3, 'two_pass') == 2 * 301
  with pytest.raises(ValueError, match='step_size_mode'):
    passes.plan_passes('three_pass')


@pytest.mark.parametrize('mode', ['two_pass', 'adaptive'])
def test_a_run_calls_the_decoder_as_often_as_the_rule_says(
    small_linear_problem, mode):
  problem = small_linear_problem
  kernel = tf.constant(problem.kernel)
  bias = tf.constant(problem.bias)
  calls = tf.Variable(0, dtype=tf.int64)

  def decoder(latents):
    calls.assign_add(1)  # one call per target evaluation (value + gradient)
    return tf.matmul(latents, kernel) + bias

  schedule = tfrd.build_schedule(tfrd.rd_point_betas(3, 10.0),
                                 tfrd.geometric_betas(40, 10.0, 0.1), 10, 2)
  run = tfrd.run_ais(decoder, problem.data, tfrd.SquaredError(), schedule,
                     latent_dim=problem.latent_dim,
                     chains=tfrd.ChainSettings(
                         num_chains=2, jit_compile=False,
                         # The transitions' rule; the Hessian mass matrix's
                         # rows are counted on top (test_preconditioning.py).
                         hmc=tfrd.HMCSettings(num_leapfrog_steps=3,
                                              step_size_mode=mode,
                                              mass_matrix='identity')))
  expected = passes.decoder_gradients_per_chain(schedule.num_transitions, 3,
                                                mode)
  assert run.num_decoder_gradients == expected
  assert int(calls.numpy()) == expected


def test_hmc_settings():
  settings = tfrd.HMCSettings()
  assert settings.num_leapfrog_steps == 2
  assert settings.step_size_mode == 'two_pass'
  changed = tfrd.HMCSettings.make(settings, num_leapfrog_steps=5)
  assert changed.num_leapfrog_steps == 5 and changed.step_size_mode == (
      'two_pass')
  with pytest.raises(TypeError, match='Unknown HMC settings'):
    tfrd.HMCSettings.make(num_leapfrog_step=5)
  with pytest.raises(ValueError, match='step_size_mode'):
    tfrd.HMCSettings(step_size_mode='sometimes')
  with pytest.raises(ValueError, match='initial_step_size'):
    tfrd.HMCSettings(initial_step_size=0.0)


def test_run_ais_and_estimate_rd_curve_agree_on_the_same_chain_settings(
    small_linear_problem):
  problem = small_linear_problem
  schedule = tfrd.build_schedule(tfrd.rd_point_betas(3, 10.0),
                                 tfrd.geometric_betas(40, 10.0, 0.1), 10, 2)
  chains = tfrd.ChainSettings(num_chains=2, seed=3,
                              hmc=tfrd.HMCSettings(3, 'adaptive'),
                              decoder_dtype=tf.float32)
  assert chains.decoder_dtype == 'float32'
  model = problem.keras_model()
  curve = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                 latent_dim=problem.latent_dim, chains=chains)
  run = tfrd.run_ais(model, problem.data, tfrd.SquaredError(), schedule,
                     latent_dim=problem.latent_dim, chains=chains)
  np.testing.assert_array_equal(
      curve.rate_per_image, np.stack([e.rate for e in run.estimates]))
  np.testing.assert_array_equal(curve.step_size_table, run.step_size_table)
  np.testing.assert_array_equal(curve.latents, run.latents)
  assert curve.config['num_leapfrog_steps'] == 3
  assert curve.config['step_size_mode'] == 'adaptive'
  with pytest.raises(ValueError, match='checkpoints through'):
    tfrd.run_ais(model, problem.data, tfrd.SquaredError(), schedule,
                 latent_dim=problem.latent_dim, chains=chains,
                 control=tfrd.RunControl(checkpoint_dir='unused'))
