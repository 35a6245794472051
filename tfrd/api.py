"""`estimate_rd_curve`: the one call that turns a decoder and data into a curve."""

import numpy as np
import tensorflow as tf

from tfrd import ais
from tfrd import checkpointing
from tfrd import curve as curve_lib
from tfrd import distribute
from tfrd import distortions as distortions_lib
from tfrd import randomness
from tfrd import schedules as schedules_lib
from tfrd import settings as settings_lib

__all__ = ['estimate_rd_curve']


def estimate_rd_curve(decoder, data, distortion='mse', schedule=None,
                      latent_dim=None, prior=None, chains=None, control=None,
                      image_indices=None, config=None):
  """Estimates the rate-prior distortion curve of `decoder` on `data`.

  Runs AIS with HMC along q_β(z|x) ∝ p(z) exp(-β d(x, f(z))) and returns the
  image-averaged (R̂_k, D̂_k) of eq. 14–15 at every RD point of the schedule.
  In expectation the curve upper-bounds the model's rate-prior distortion
  function (eq. 17).

  Example:

      decoder = keras.saving.load_model('decoder.keras')
      schedule = tfrd.schedule_from_settings(tfrd.ScheduleSettings(
          num_intermediate=10000, num_rd_points=20))
      curve = tfrd.estimate_rd_curve(
          decoder, images, 'mse', schedule, latent_dim=10,
          chains=tfrd.ChainSettings(num_chains=16, seed=0),
          control=tfrd.RunControl(checkpoint_dir='out/checkpoints'))
      curve.save('out/')

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...] (e.g. a Keras
      model); called in inference mode.
    data: [N, ...] images, with as many elements each as one decoder output.
    distortion: a `Distortion` or its name ('mse', 'gaussian_nll',
      'bernoulli_nll').
    schedule: an `AnnealingSchedule`; if None, tfrd's default
      `schedule_from_settings(ScheduleSettings())`: 40 log-spaced RD points
      from 1/12 to 1000 (β = 1 among them) on 5000 geometric distributions
      with appendix D.2's fills (about 6,000 transitions: the start of the
      apps' accuracy search; `tfrd.estimate_rd_curve_checked` lengthens it
      until its BDMC check meets a target).
    latent_dim: D, needed when `prior` is None (standard normal prior).
    prior: TFP distribution with event shape [D].
    chains: a `tfrd.ChainSettings`: chains per image, seed (results are a
      deterministic function of it), `HMCSettings` (its default L = 2 wants
      a schedule about five times longer than L = 10: for the same decoder
      gradients that was several times tighter in the accuracy study and
      BDMC runs), `jit_compile`, the decoder's dtype and a step-size table from
      an earlier run (`RDCurve.step_size_table`) to replay.
      `ChainSettings()` if None.
    control: a `tfrd.RunControl`; `RunControl()` if None. Its
      `checkpoint_dir` holds `tf.train.Checkpoint`s of the chain state,
      written every `checkpoint_interval_s` seconds and at the end of each
      pass: an interrupted run started again with the same arguments resumes
      there and gives exactly the uninterrupted result. With `resume=False`
      an existing checkpoint raises `CheckpointExistsError` rather than
      being overwritten. A directory holding files tfrd did not write (and
      no tfrd checkpoint) is refused; `tfrd.checkpointing.remove_checkpoint`
      deletes tfrd's own files from it once the curve is safe. Once `stop`
      is set, the run checkpoints at the end of the current chunk and raises
      `tfrd.RunInterrupted`. `strategy`, a `tf.distribute.Strategy`
      (`MirroredStrategy` for the devices of one machine,
      `MultiWorkerMirroredStrategy` for several machines; see
      `tfrd.distribute`), splits the images among its replicas and the curve
      is the single-process curve of the same seed. Every worker calls this
      with the same arguments and gets the whole curve; with several
      workers each checkpoints its own images in
      `checkpoint_dir/worker-K-of-N`. With several replicas in one process,
      build or load the decoder under `strategy.scope()`, so that each
      replica reads its own copy of the weights.
    image_indices: global indices of the images (select their random
      streams); 0..N-1 by default.
    config: extra JSON-serializable entries for the curve's config.

  Returns:
    An `RDCurve`, whose `step_size_table` and `latents` hold the reported
    run's step sizes and one latent per point and image.

  Raises:
    tfrd.RunInterrupted: `control.stop` was set.
    tfrd.DecoderOutputError: the decoder produced NaN or infinite values.
    tfrd.checkpointing.CheckpointDirectoryError: `checkpoint_dir` is a file
      or holds another's files.
    tfrd.checkpointing.CheckpointExistsError: a checkpoint exists and
      `control.resume` is False.
    tfrd.checkpointing.CheckpointMismatchError: the checkpoint in
      `checkpoint_dir` belongs to another model, data, prior, schedule or
      settings.
    ValueError: for invalid arguments.
  """
  distortion = distortions_lib.get_distortion(distortion)
  chains = settings_lib.ChainSettings() if chains is None else chains
  control = settings_lib.RunControl() if control is None else control
  hmc_settings = chains.hmc
  num_chains, seed = chains.num_chains, chains.seed
  strategy, checkpoint_dir = control.strategy, control.checkpoint_dir
  if schedule is None:
    schedule = schedules_lib.schedule_from_settings(
        settings_lib.ScheduleSettings())
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
      plan, num_chains, data, image_indices, chains.step_size_table)
  settings = {
      'seed': int(seed), 'num_chains': int(num_chains),
      'hmc': hmc_settings._asdict(), 'jit_compile': str(chains.jit_compile),
      # A checkpoint resumes only with the numbers it was drawn with.
      'noise_generator': randomness.NOISE_GENERATOR,
      'distortion': distortion.get_config(),
      # The prior's class and parameters (its repr names neither its mean
      # nor its scale): a checkpoint resumes only under the same prior.
      'prior': (None if prior is None else
                checkpointing.describe_parameters(prior)),
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
    if not control.resume and checkpointer.latest() is not None:
      raise checkpointing.CheckpointExistsError(
          f'{checkpoint_dir} already holds a checkpoint; resume it or choose '
          f'another directory.')
  run = ais.run_ais(
      decoder, data, distortion, schedule, prior=prior, latent_dim=latent_dim,
      image_indices=image_indices,
      chains=chains._replace(step_size_table=step_size_table),
      control=control._replace(checkpoint_dir=None),
      worker=ais.WorkerPart(checkpointer, plan))
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
      'mass_matrix': hmc_settings.mass_matrix,
      'random_block_size': randomness.BLOCK_SIZE,
      'noise_generator': randomness.NOISE_GENERATOR,
      'jit_compiled': bool(run.jit_compiled),
      'decoder_gradients_per_chain': int(run.num_decoder_gradients),
      'mean_step_size': float(np.exp(np.mean(np.log(run.step_size_table)))),
  }
  full_config.update(config or {})
  timing = {f'{phase}_s': seconds for phase, seconds in run.wall_time_s.items()}
  timing['ais_total_s'] = float(sum(run.wall_time_s.values()))
  return curve_lib.RDCurve(
      run.betas, stack('rate'), stack('distortion'), stack('log_z'),
      stack('effective_sample_size'), image_indices=image_indices,
      is_nll=distortion.is_nll, config=full_config,
      run=curve_lib.RunRecord(accept_rate=run.accept_rates, timing=timing,
                              step_size_table=run.step_size_table,
                              latents=run.latents))


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
