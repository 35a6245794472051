"""`estimate_rd_curve`: the one call that turns a decoder and data into a curve."""

import numpy as np
import tensorflow as tf

from tfrd import ais
from tfrd import checkpointing
from tfrd import curve as curve_lib
from tfrd import distribute
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
                      checkpoint_interval_s=60.0, stop=None, strategy=None,
                      **hmc_overrides):
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
    strategy: optional `tf.distribute.Strategy` (`MirroredStrategy` for the
      devices of one machine, `MultiWorkerMirroredStrategy` for several
      machines; see `tfrd.distribute`). The images are split among its
      replicas and the curve is the single-process curve of the same seed.
      Every worker calls this with the same arguments and gets the whole
      curve; with several workers each checkpoints its own images in
      `checkpoint_dir/worker-K-of-N`. With several replicas in one process,
      build or load the decoder under `strategy.scope()`, so that each
      replica reads its own copy of the weights.
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
  # As given, for the fingerprint (a checkpoint of 0..N-1 by default resumes).
  given_image_indices = image_indices
  image_indices = randomness.check_image_indices(image_indices, data.shape[0])
  plan = None
  if strategy is not None:
    plan = distribute.plan_shards(strategy, data.shape[0])
    _check_decoder_weights(decoder, strategy, plan)
    checkpoint_dir = distribute.shard_checkpoint_dir(checkpoint_dir, plan)
  all_data, all_image_indices = data, image_indices
  data, image_indices, step_size_table = _this_workers_part(
      plan, num_chains, data, image_indices, step_size_table)
  settings = {
      'seed': int(seed), 'num_chains': int(num_chains),
      'hmc': hmc_settings._asdict(), 'jit_compile': str(jit_compile),
      # A checkpoint resumes only with the numbers it was drawn with.
      'noise_generator': randomness.NOISE_GENERATOR,
      'distortion': distortion.get_config(),
      'prior': None if prior is None else repr(prior),
      'latent_dim': latent_dim,
      'image_indices': (None if given_image_indices is None and
                        len(image_indices) == len(all_image_indices)
                        else image_indices.tolist()),
      'step_size_table': (None if step_size_table is None else
                          checkpointing.fingerprint(
                              None, step_size_table, schedule, {})['data']),
      # Everything the caller recorded about the run (model, conventions,
      # decoder precision, ...): a checkpoint resumes only the same run.
      'config': config or {},
  }
  if plan is not None and plan.num_workers > 1:
    settings['worker'] = [plan.worker_index, plan.num_workers]
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
                    checkpoint_interval_s=checkpoint_interval_s, stop=stop,
                    strategy=strategy, shard_plan=plan)
  if plan is not None and plan.num_workers > 1:
    run = _merge_workers(strategy, plan, run, num_chains)
  data, image_indices = all_data, all_image_indices
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
      image_indices=image_indices,
      is_nll=distortion.is_nll, config=full_config, timing=timing)
  result.step_size_table = run.step_size_table
  result.latents = run.latents
  return result


def _check_decoder_weights(decoder, strategy, plan):
  """Refuses weights one device holds for replicas on several devices.

  XLA cannot read a variable placed on another device (the AIS loop would
  fall back to a slow graph), so with several local replicas every weight
  must have a copy per device: a variable created under `strategy.scope()`.
  """
  if len(plan.local_replicas) < 2:
    return
  weights = getattr(decoder, 'weights', None)
  if weights is None and hasattr(decoder, 'model'):
    weights = getattr(decoder.model, 'weights', None)
  variables = [w if isinstance(w, tf.Variable) else getattr(w, 'value', None)
               for w in weights or ()]
  outside = [v for v in variables if isinstance(v, tf.Variable) and
             not strategy.extended.variable_created_in_scope(v)]
  if outside:
    raise ValueError(
        f'The decoder\'s weights live on one device, but this process runs '
        f'{len(plan.local_replicas)} replicas: build or load the decoder '
        f'under `with strategy.scope():` so that each replica has its own '
        f'copy.')


def _this_workers_part(plan, num_chains, data, image_indices,
                       step_size_table):
  """The images (and step-size table columns) this worker runs."""
  if plan is None or plan.num_workers == 1:
    return data, image_indices, step_size_table
  images = plan.local_images
  if step_size_table is not None:
    step_size_table = np.asarray(step_size_table)[
        :, images.start * num_chains:images.stop * num_chains]
  return data[images], image_indices[images], step_size_table


def _merge_workers(strategy, plan, run, num_chains):
  """Every worker's `AISRun` put together, in image order (a collective)."""
  num_points = len(run.estimates)
  local = {
      name: np.stack([getattr(e, name) for e in run.estimates], axis=1)
      for name in run.estimates[0]._fields}
  num_images = next(iter(local.values())).shape[0]
  num_segments = run.step_size_table.shape[0]
  local['latents'] = np.swapaxes(run.latents, 0, 1)
  local['step_size_table'] = np.swapaxes(
      run.step_size_table.reshape(num_segments, num_images, num_chains), 0, 1)
  # Per-image copies of this worker's figures, so that the merge is one
  # gather along images: the mean acceptance over all chains is then the
  # mean over images (every image has the same number of chains).
  local['accept_rates'] = np.broadcast_to(run.accept_rates,
                                          (num_images, num_points))
  phases = sorted(run.wall_time_s)
  local['wall_time_s'] = np.broadcast_to(
      [run.wall_time_s[phase] for phase in phases],
      (num_images, len(phases)))
  local['jit_compiled'] = np.full([num_images], run.jit_compiled)
  merged = distribute.gather_images(strategy, plan, local)
  total_images = merged['latents'].shape[0]
  return run._replace(
      estimates=[type(run.estimates[0])(*(
          merged[name][:, point] for name in run.estimates[0]._fields))
                 for point in range(num_points)],
      latents=np.swapaxes(merged['latents'], 0, 1),
      step_size_table=np.swapaxes(merged['step_size_table'], 0, 1).reshape(
          num_segments, total_images * num_chains),
      accept_rates=np.mean(merged['accept_rates'], axis=0),
      jit_compiled=bool(np.all(merged['jit_compiled'])),
      # The slowest worker's time is the run's.
      wall_time_s={phase: float(np.max(merged['wall_time_s'][:, index]))
                   for index, phase in enumerate(phases)})
