"""Interrupted runs resume exactly; foreign checkpoints are refused."""

import threading

import numpy as np
import pytest

import tfrd
from tfrd import checkpointing


class _Interrupt(Exception):
  pass


def _interrupt_after(num_updates):
  count = [0]

  def progress(update):
    del update
    count[0] += 1
    if count[0] == num_updates:
      raise _Interrupt()

  return progress


@pytest.fixture(scope='module')
def setting(small_linear_problem):
  problem = small_linear_problem
  schedule = tfrd.build_schedule(tfrd.rd_point_betas(5, 50.0),
                                 tfrd.geometric_betas(150, 50.0, 1 / 12), 40,
                                 5)
  kwargs = dict(latent_dim=problem.latent_dim,
                chains=tfrd.ChainSettings(
                    num_chains=8, seed=2,
                    hmc=tfrd.HMCSettings(num_leapfrog_steps=3)))
  model = problem.keras_model()
  reference = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                     **kwargs)
  return problem, model, schedule, kwargs, reference


# Interrupt in the preliminary pass, right at the pass boundary, and in the
# reported pass (the schedule has 8 chunks a pass).
@pytest.mark.parametrize('interrupt_at', [3, 8, 11])
def test_interrupted_run_resumes_to_the_identical_curve(setting, tmp_path,
                                                        interrupt_at):
  problem, model, schedule, kwargs, reference = setting
  with pytest.raises(_Interrupt):
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule,
        control=tfrd.RunControl(checkpoint_dir=str(tmp_path),
                                checkpoint_interval_s=0,
                                progress=_interrupt_after(interrupt_at)),
        **kwargs)
  resumed = tfrd.estimate_rd_curve(
      model, problem.data, 'mse', schedule,
      control=tfrd.RunControl(checkpoint_dir=str(tmp_path)), **kwargs)
  for name in ('rate_per_image', 'distortion_per_image', 'log_z_per_image'):
    np.testing.assert_array_equal(getattr(resumed, name),
                                  getattr(reference, name))
  np.testing.assert_array_equal(resumed.latents, reference.latents)
  np.testing.assert_array_equal(resumed.step_size_table,
                                reference.step_size_table)


def test_checkpoint_of_other_data_schedule_or_model_is_refused(setting,
                                                               tmp_path):
  problem, model, schedule, kwargs, _ = setting
  with pytest.raises(_Interrupt):
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule,
        control=tfrd.RunControl(checkpoint_dir=str(tmp_path),
                                checkpoint_interval_s=0,
                                progress=_interrupt_after(2)), **kwargs)
  kwargs = dict(kwargs, control=tfrd.RunControl(checkpoint_dir=str(tmp_path)))
  with pytest.raises(checkpointing.CheckpointMismatchError, match='data'):
    tfrd.estimate_rd_curve(model, problem.data + 0.01, 'mse', schedule,
                           **kwargs)
  other_schedule = tfrd.build_schedule([1.0, 50.0], tfrd.linear_betas(50, 50.0),
                                       10, 5)
  with pytest.raises(checkpointing.CheckpointMismatchError, match='schedule'):
    tfrd.estimate_rd_curve(model, problem.data, 'mse', other_schedule,
                           **kwargs)
  other_model = problem.keras_model()
  other_model.layers[-1].set_weights(
      [w * 1.1 for w in other_model.layers[-1].get_weights()])
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match='model weights'):
    tfrd.estimate_rd_curve(other_model, problem.data, 'mse', schedule,
                           **kwargs)
  with pytest.raises(checkpointing.CheckpointMismatchError, match='settings'):
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule,
        **dict(kwargs, chains=kwargs['chains']._replace(seed=3)))
  with pytest.raises(checkpointing.CheckpointExistsError):
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule,
        **dict(kwargs, control=kwargs['control']._replace(resume=False)))


def test_checkpoint_of_another_prior_is_refused_and_the_same_resumes(
    setting, tmp_path):
  """N(0, I) and N(5, I) print alike; the fingerprint holds their numbers."""
  problem, model, schedule, kwargs, reference = setting
  prior = tfrd.standard_normal_prior(problem.latent_dim)
  shifted = type(prior)(loc=prior.parameters['loc'] + 5.0,
                        scale_diag=prior.parameters['scale_diag'])
  assert repr(shifted) == repr(prior)
  stop, updates = threading.Event(), []

  def stop_after_three(update):
    updates.append(update)
    if len(updates) == 3:
      stop.set()

  control = tfrd.RunControl(checkpoint_dir=str(tmp_path),
                            checkpoint_interval_s=0)
  with pytest.raises(tfrd.RunInterrupted) as interrupted:
    tfrd.estimate_rd_curve(
        model, problem.data, 'mse', schedule, prior=prior,
        control=control._replace(progress=stop_after_three, stop=stop),
        **kwargs)
  assert interrupted.value.checkpoint_path
  with pytest.raises(tfrd.CheckpointMismatchError, match='settings'):
    tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                           prior=shifted, control=control, **kwargs)
  # The same prior, given anew, resumes (to the curve of the standard
  # normal prior that `latent_dim` alone gives).
  resumed = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                   prior=tfrd.standard_normal_prior(
                                       problem.latent_dim),
                                   control=control, **kwargs)
  np.testing.assert_array_equal(resumed.rate_per_image,
                                reference.rate_per_image)
  np.testing.assert_array_equal(resumed.latents, reference.latents)


def test_step_size_table_of_a_preliminary_run_is_reusable(setting):
  problem, model, schedule, kwargs, _ = setting
  # Plain HMC's table (a Hessian run's step sizes do not replay alone).
  kwargs = dict(kwargs, chains=kwargs['chains']._replace(
      hmc=kwargs['chains'].hmc._replace(mass_matrix='identity')))
  reference = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                     **kwargs)
  chains = kwargs['chains']._replace(
      step_size_table=reference.step_size_table)
  replay = tfrd.estimate_rd_curve(model, problem.data, 'mse', schedule,
                                  **dict(kwargs, chains=chains))
  np.testing.assert_array_equal(replay.rate_per_image,
                                reference.rate_per_image)
  # A new seed with the same table: the paper's Fig. 8 seed study.
  other_seed = tfrd.estimate_rd_curve(
      model, problem.data, 'mse', schedule,
      **dict(kwargs, chains=chains._replace(seed=9)))
  assert not np.array_equal(other_seed.rate_per_image,
                            reference.rate_per_image)
  assert np.all(np.diff(other_seed.rate) > 0)
