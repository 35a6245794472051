"""`estimate_rd_curve`: the one call that turns a decoder and data into a curve."""

import numpy as np
import tensorflow as tf

from tfrd import ais
from tfrd import checkpointing
from tfrd import curve as curve_lib
from tfrd import distortions as distortions_lib
from tfrd import hmc as hmc_lib
from tfrd import randomness
from tfrd import schedules as schedules_lib

__all__ = ['estimate_rd_curve']


def estimate_rd_curve(decoder, data, distortion='mse', schedule=None,
                      latent_dim=None, prior=None, num_chains=16, seed=0,
                      image_indices=None, hmc_settings=None,
                      step_size_table=None, jit_compile='auto',
                      decoder_dtype=tf.float32, progress=None, config=None,
                      checkpoint_dir=None, resume=True,
                      checkpoint_interval_s=60.0, stop=None, **hmc_overrides):
  """Estimates the rate-prior distortion curve of `decoder` on `data`.

  Runs AIS with HMC along q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) and returns the
  image-averaged (R̂_k, D̂_k) of eq. 14–15 at every RD point of the schedule.
  In expectation the curve upper-bounds the model's rate-prior distortion
  function (eq. 17).

  Example:

      decoder = keras.saving.load_model('decoder.keras')
      schedule = tfrd.build_schedule(
          tfrd.rd_point_betas(20, beta_max=1000.0),
          tfrd.geometric_betas(10000, beta_max=1000.0, beta_min=1 / 12))
      curve = tfrd.estimate_rd_curve(decoder, images, 'mse', schedule,
                                     latent_dim=10)
      curve.save('out/')

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...] (e.g. a Keras
      model); called in inference mode.
    data: [N, ...] images, with as many elements each as one decoder output.
    distortion: a `Distortion` or its name ('mse', 'gaussian_nll',
      'bernoulli_nll').
    schedule: an `AnnealingSchedule`; a short default (10 log-spaced points up
      to β = 1000 on a 5000-step geometric schedule) if None.
    latent_dim: D, needed when `prior` is None (standard normal prior).
    prior: TFP distribution with event shape [D].
    num_chains: AIS chains per image.
    seed: integer seed; results are a deterministic function of it.
    image_indices: global indices of the images (select their random
      streams); 0..N-1 by default.
    hmc_settings: a `tfrd.HMCSettings`; the defaults if None. Its default
      L = 2 wants a schedule about five times longer than L = 10 (e.g. 20000
      geometric distributions instead of 4000): for the same decoder
      gradients that was several times tighter in the README's accuracy
      study and BDMC runs.
    step_size_table: a table from an earlier run's config to replay.
    jit_compile: True, False or 'auto'.
    decoder_dtype: the decoder's dtype.
    progress: optional callable receiving `ProgressUpdate`s.
    config: extra JSON-serializable entries for the curve's config.
    checkpoint_dir: optional directory for `tf.train.Checkpoint`s of the
      chain state, written every `checkpoint_interval_s` seconds and at the
      end of each pass. An interrupted run started again with the same
      arguments resumes there and gives exactly the uninterrupted result.
    resume: with `checkpoint_dir`, whether an existing checkpoint may be
      resumed; if False and one exists, a `CheckpointExistsError` is raised
      rather than overwriting it.
      A directory holding files tfrd did not write (and no tfrd checkpoint)
      is refused; `tfrd.checkpointing.remove_checkpoint` deletes tfrd's own
      files from it once the curve is safe.
    checkpoint_interval_s: least seconds between checkpoints.
    stop: optional `threading.Event`; once set, the run checkpoints at the
      end of the current chunk and raises `tfrd.RunInterrupted`.
    **hmc_overrides: fields of `HMCSettings` one by one
      (`num_leapfrog_steps=3`, `step_size_mode='adaptive'`,
      `initial_step_size`, `target_accept_prob`, `adaptation_rate`,
      `shared_step_size`); they replace those of `hmc_settings`.

  Returns:
    An `RDCurve` (with `step_size_table` attached as an attribute).

  Raises:
    tfrd.RunInterrupted: `stop` was set.
    tfrd.DecoderOutputError: the decoder produced NaN or infinite values.
    tfrd.checkpointing.CheckpointDirectoryError: `checkpoint_dir` is a file
      or holds another's files.
    tfrd.checkpointing.CheckpointMismatchError: the checkpoint in
      `checkpoint_dir` belongs to another model, data, schedule or settings.
    ValueError: for invalid arguments.
  """
  distortion = distortions_lib.get_distortion(distortion)
  hmc_settings = hmc_lib.HMCSettings.make(hmc_settings, **hmc_overrides)
  if schedule is None:
    schedule = schedules_lib.build_schedule(
        schedules_lib.rd_point_betas(10, 1000.0),
        schedules_lib.geometric_betas(5000, 1000.0, 1.0 / 12.0),
        min_before_first=500)
  data = np.asarray(data)
  settings = {
      'seed': int(seed), 'num_chains': int(num_chains),
      'hmc': hmc_settings._asdict(), 'jit_compile': str(jit_compile),
      # A checkpoint resumes only with the numbers it was drawn with.
      'noise_generator': randomness.NOISE_GENERATOR,
      'distortion': distortion.get_config(),
      'prior': None if prior is None else repr(prior),
      'latent_dim': latent_dim,
      'image_indices': (None if image_indices is None
                        else np.asarray(image_indices).tolist()),
      'step_size_table': (None if step_size_table is None else
                          checkpointing.fingerprint(
                              None, step_size_table, schedule, {})['data']),
      # Everything the caller recorded about the run (model, conventions,
      # decoder precision, ...): a checkpoint resumes only the same run.
      'config': config or {},
  }
  checkpointer = None
  if checkpoint_dir is not None:
    checkpointer = checkpointing.AISCheckpointer(
        checkpoint_dir,
        checkpointing.fingerprint(decoder, data, schedule, settings))
    checkpointer.check_directory()
    if not resume and checkpointer.latest() is not None:
      raise checkpointing.CheckpointExistsError(
          f'{checkpoint_dir} already holds a checkpoint; resume it or choose '
          f'another directory.')
  run = ais.run_ais(decoder, data, distortion, schedule, num_chains=num_chains,
                    seed=seed, prior=prior, latent_dim=latent_dim,
                    image_indices=image_indices, hmc_settings=hmc_settings,
                    step_size_table=step_size_table, jit_compile=jit_compile,
                    decoder_dtype=decoder_dtype, progress=progress,
                    checkpointer=checkpointer,
                    checkpoint_interval_s=checkpoint_interval_s, stop=stop)
  stack = lambda name: np.stack([getattr(e, name) for e in run.estimates])
  full_config = {
      'distortion': distortion.get_config(),
      'num_images': int(data.shape[0]),
      'num_chains': int(num_chains),
      'num_leapfrog_steps': hmc_settings.num_leapfrog_steps,
      'num_transitions': int(schedule.num_transitions),
      'num_rd_points': int(schedule.rd_indices.size),
      'seed': int(seed),
      'step_size_mode': ('table' if step_size_table is not None
                         else hmc_settings.step_size_mode),
      'random_block_size': randomness.BLOCK_SIZE,
      'noise_generator': randomness.NOISE_GENERATOR,
      'jit_compiled': bool(run.jit_compiled),
      'decoder_gradients_per_chain': int(run.num_decoder_gradients),
      'mean_step_size': float(np.exp(np.mean(np.log(run.step_size_table)))),
  }
  full_config.update(config or {})
  timing = {f'{phase}_s': seconds for phase, seconds in run.wall_time_s.items()}
  timing['ais_total_s'] = float(sum(run.wall_time_s.values()))
  result = curve_lib.RDCurve(
      run.betas, stack('rate'), stack('distortion'), stack('log_z'),
      stack('effective_sample_size'), accept_rate=run.accept_rates,
      image_indices=(np.arange(data.shape[0]) if image_indices is None
                     else image_indices),
      is_nll=distortion.is_nll, config=full_config, timing=timing)
  result.step_size_table = run.step_size_table
  result.latents = run.latents
  return result
