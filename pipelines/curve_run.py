"""One curve run: load the model and the data, estimate, write, check.

    load_inputs -> tfrd.schedule_from_settings -> bdmc_points.settle_schedule
    (the accuracy check first, lengthening the schedule to --target_gap) ->
    estimate -> save (curve files, step_sizes.npz, reconstructions) ->
    bdmc_points.measure_for_curve (the check after the curve: without a
    target, or judging a schedule the user set against it) or
    bdmc_points.measure_user_images (after a search: the change on the
    user's images between its last two schedules) -> print_summary and the
    accuracy

`run_curve(job)` is `apps.rd_curve`; `apps.reproduce` (pipelines.reproduce),
the benchmarks and users' scripts call the same steps: `load_decoder`,
`make_distortion`, `estimate` (which prints the run's header and progress)
and `save_step_sizes`. Each step is here once; nothing here reads flags.

The rules of the files a run writes (refusals before any work, atomic
writes, `--resume`, `--overwrite`) are `pipelines.output_files`'; those of
its checkpoints are tfrd's (`tfrd.checkpointing`); both are checked before
the model is loaded, so a refused run leaves nothing behind.
"""

import collections
import os
import sys
import time

import numpy as np

from adapters import conventions
from adapters import datasets
from adapters import keras_decoder
from adapters import manipulations
from adapters import models
from adapters import priors
from adapters import python_objects
from pipelines import bdmc_points
from pipelines import devices
from pipelines import distributed_run
from pipelines import jobs
from pipelines import output_files
from pipelines import progress as progress_lib
import tfrd

__all__ = ['CurveInputs', 'RESULT_FILES', 'load_decoder', 'make_distortion',
           'load_inputs', 'estimate', 'save_step_sizes', 'load_step_sizes',
           'reconstruction_points', 'decode_latents', 'run_curve',
           'print_summary', 'target_status', 'EXPECTED_ERRORS']

# What a run writes into its output directory; curve.json, first, marks it
# finished.
RESULT_FILES = ('curve.json', 'curve.csv', 'curve.npz', 'curve.png',
                'step_sizes.npz')
# The schedule search's attempts while the curve is not written yet, so that
# --resume does not measure them again (`tfrd.accuracy.settle_schedule`);
# removed once curve.json holds them.
SEARCH_RECORD = '.tfrd_schedule_search.json'

# Errors that mean bad input (one line, exit status 2 in the apps).
EXPECTED_ERRORS = (keras_decoder.ModelError, datasets.DatasetError,
                   tfrd.DecoderOutputError, ValueError, OSError)

_UNSAFE_WARNING = (
    '--unsafe_deserialization: Keras may deserialize Python code stored in '
    'the model files (Lambda layers) and so execute arbitrary code from them; '
    'use it only for files you trust.')
# Programs that wrote the unsafe warning: a run loads its decoder and
# possibly a feature model, and says it once.
_warned = set()


class CurveInputs(
    collections.namedtuple('CurveInputs', [
        'decoder', 'model_config', 'images', 'original_shape', 'image_shape',
        'reshaped', 'distortion'])):
  """What a curve is estimated from.

  Attributes:
    decoder: the `LoadedDecoder` (blurred and in its precision, as asked).
    model_config: the JSON record of how it was loaded, for curve.json.
    images: the data, shaped like the decoder's output.
    original_shape: the data's shape per image as loaded.
    image_shape: (H, W, C) where something needs image layout, else None.
    reshaped: whether the data were reshaped to the decoder's output.
    distortion: the `tfrd.Distortion`.
  """
  __slots__ = ()


def _loading_options(model, program):
  """`adapters.models` loading keywords of `model` (imports its modules
  first, so that a bad module is reported before anything else)."""
  python_objects.import_modules(tuple(model.import_modules), '--import')
  if model.unsafe_deserialization and program not in _warned:
    _warned.add(program)
    prefix = f'{program}: ' if program else ''
    sys.stderr.write(f'{prefix}warning: {_UNSAFE_WARNING}\n')
  return dict(import_modules=tuple(model.import_modules),
              custom_objects=model.custom_objects,
              safe_mode=not model.unsafe_deserialization)


def load_decoder(model, distortion, program='rd_curve'):
  """The decoder `model` describes, in its precision and output convention.

  Args:
    model: `pipelines.settings.ModelSettings`.
    distortion: `pipelines.settings.DistortionSettings` (the output kind
      must fit it).
    program: the name starting warning lines.

  Returns:
    (LoadedDecoder, dict for curve.json).

  Raises:
    ModelError, ValueError: for unusable models or inconsistent settings.
  """
  if model.output_kind == 'mean_logvar' and not (
      distortion.name == 'gaussian_nll' and
      distortion.gaussian_scale == 'decoder'):
    raise ValueError('--output_kind=mean_logvar needs --distortion='
                     'gaussian_nll --gaussian_scale=decoder.')
  if (distortion.gaussian_scale == 'decoder' and
      model.output_kind != 'mean_logvar'):
    raise ValueError('--gaussian_scale=decoder needs a decoder that returns a '
                     'mean and a log-variance: --output_kind=mean_logvar.')
  keep_logits = (model.output_kind == 'logits' and
                 distortion.name == 'bernoulli_nll' and
                 distortion.bernoulli_from_logits)
  if distortion.bernoulli_from_logits and not keep_logits:
    raise ValueError('--bernoulli_from_logits needs --output_kind=logits and '
                     '--distortion=bernoulli_nll.')
  decoder = models.load_decoder(
      model.path, model_format=model.model_format, signature=model.signature,
      latent_dim=model.latent_dim,
      allow_multiple_outputs=model.output_kind == 'mean_logvar',
      **_loading_options(model, program))
  # Before the output conventions wrap it: the Keras model is rebuilt.
  decoder, precision_config = devices.apply_precision(
      decoder, model.precision, model.device, program)
  image_shape = (None if not model.output_image_shape else
                 tuple(int(d) for d in model.output_image_shape))
  convention = dict(layout=model.output_layout, value_range=model.output_range,
                    output_kind=model.output_kind,
                    flattened_image_shape=image_shape, keep_logits=keep_logits)
  decoder = conventions.apply_output_convention(decoder, **convention)
  config = {
      'decoder': decoder.describe(),
      'decoder_convention': conventions.describe_convention(**convention),
      'prior': priors.describe_prior_spec(model.prior),
      'blur_sigma': model.blur_sigma,
      'imports': list(model.import_modules),
      'custom_objects': model.custom_objects,
      'unsafe_deserialization': bool(model.unsafe_deserialization),
      **precision_config,
  }
  return decoder, config


def make_distortion(distortion, image_shape=None, model=None):
  """The `tfrd.Distortion` of `distortion`.

  Args:
    distortion: `pipelines.settings.DistortionSettings`.
    image_shape: per-image data shape, needed by ssim and features.
    model: the `ModelSettings` whose loading options (imports, custom
      objects, safe mode) load the feature model too; None for the defaults.

  Raises:
    ValueError: for inconsistent settings.
  """
  if distortion.name == 'gaussian_nll':
    scale = distortion.gaussian_scale
    if scale != 'decoder':
      try:
        scale = float(scale)
      except ValueError:
        raise ValueError(f"--gaussian_scale must be a number or 'decoder', "
                         f'got {scale!r}.') from None
    return tfrd.GaussianNLL(scale)
  if distortion.name == 'bernoulli_nll':
    return tfrd.BernoulliNLL(from_logits=distortion.bernoulli_from_logits)
  if distortion.name in ('ssim', 'features'):
    image_shape = tuple(int(d) for d in image_shape or ())
    if len(image_shape) == 2:
      image_shape += (1,)
    if len(image_shape) != 3:
      raise ValueError(
          f'--distortion={distortion.name} needs image data of shape '
          f'(height, width, channels); got per-image shape {image_shape}.')
    if distortion.name == 'ssim':
      return tfrd.SSIMDistortion(image_shape)
    if not distortion.feature_model:
      raise ValueError('--distortion=features needs --feature_model=PATH.keras.')
    return tfrd.DeepFeatureDistortion(
        _load_feature_model(distortion.feature_model, model), image_shape)
  return tfrd.SquaredError()


def _load_feature_model(path, model):
  """The Keras 3 feature model at `path`, loaded like the decoder (it may
  use the user's own layers too)."""
  if not os.path.isfile(path):
    raise ValueError(f'--feature_model not found: {path}')
  options = {} if model is None else _loading_options(model, None)
  try:
    return models.load_keras_model(path, **options)
  except models.ModelError as error:
    raise ValueError(f'--feature_model={path}: {error}') from None


def image_shape_for(data_shape, image_shape=None):
  """(H, W, C) of images with per-example shape `data_shape`.

  Args:
    data_shape: the data's shape per image.
    image_shape: the user's (H, W, C), if given.

  Raises:
    ValueError: if no such shape is known (before any work is done).
  """
  if image_shape:
    shape = tuple(int(d) for d in image_shape)
  elif len(data_shape) == 3:
    shape = tuple(data_shape)
  elif len(data_shape) == 2:
    shape = tuple(data_shape) + (1,)
  else:
    shape = tfrd.plotting.guess_image_shape(int(np.prod(data_shape)))
  if shape is None or int(np.prod(shape)) != int(np.prod(data_shape)):
    raise ValueError(
        f'Data of per-image shape {data_shape} are not images of a known '
        f'shape (needed by --save_reconstructions and the ssim and features '
        f'distortions); give --image_shape=HEIGHT,WIDTH,CHANNELS.')
  return shape


def load_inputs(job, workers=None, program='rd_curve'):
  """The decoder (blurred if asked), the images brought to its output
  layout, and the distortion, as `job` describes them.

  Args:
    job: `pipelines.settings.CurveJob`.
    workers: the run's `DistributedRun` (the decoder loads under its
      strategy's scope), or None.
    program: the name starting warning lines.

  Returns:
    `CurveInputs`.
  """
  if workers is None:
    decoder, model_config = load_decoder(job.model, job.distortion, program)
  else:
    with workers.scope():
      decoder, model_config = load_decoder(job.model, job.distortion, program)
  data = job.data
  images = datasets.load_dataset(data.dataset, data.num_images,
                                 split=data.split, data_dir=data.data_dir,
                                 tfds_data_dir=data.tfds_data_dir,
                                 offset=data.image_offset)
  original_shape = tuple(images.shape[1:])
  needs_images = (job.outputs.save_reconstructions or
                  job.model.blur_sigma > 0 or
                  job.distortion.name in ('ssim', 'features'))
  image_shape = (image_shape_for(original_shape, data.image_shape)
                 if needs_images else None)
  if job.model.blur_sigma > 0:
    # Blur in the data's image layout; the output keeps the decoder's shape.
    output_shape = decoder.output_shape
    decoder = manipulations.gaussian_blur(decoder, job.model.blur_sigma,
                                          image_shape=image_shape,
                                          padding=job.model.blur_padding)
    if tuple(decoder.output_shape) != tuple(output_shape):
      images = images.reshape((images.shape[0],) + tuple(decoder.output_shape))
    model_config['decoder'] = decoder.describe()
  images, reshaped = keras_decoder.match_data_to_decoder(
      images, decoder.output_shape)
  distortion = make_distortion(job.distortion, image_shape, job.model)
  return CurveInputs(decoder, model_config, images, original_shape,
                     image_shape, reshaped, distortion)


def estimate(decoder, images, distortion, schedule, prior, chains, control,
             config, image_indices=None, program='rd_curve'):
  """`tfrd.estimate_rd_curve` with a header line and a progress printer.

  The one place where a curve is estimated, for `run_curve` and
  `pipelines.reproduce` alike.

  Args:
    decoder: the decoder (a `LoadedDecoder` or a Keras model).
    images: the data, shaped like the decoder's output.
    distortion: the `tfrd.Distortion`.
    schedule: the `tfrd.AnnealingSchedule`.
    prior: the TFP prior over the code (its event size is the code size).
    chains: `tfrd.ChainSettings`.
    control: `tfrd.RunControl` (a progress printer is added if it has none).
    config: the curve's config entries; its 'title' starts the header.
    image_indices: the images' global indices (0..N-1 if None).
    program: the name starting the header line.

  Returns:
    The `tfrd.RDCurve`.
  """
  hmc = chains.hmc
  replayed = chains.step_size_table is not None
  latent_dim = int(prior.event_shape[-1])
  sys.stderr.write(
      f'{program}: {config.get("title")}: code size {latent_dim}, '
      f'{images.shape[0]} images of shape {tuple(images.shape[1:])}; '
      f'{schedule.num_transitions} transitions, {schedule.rd_indices.size} '
      f'RD points, {chains.num_chains} chains, L={hmc.num_leapfrog_steps}, '
      f'{"replayed" if replayed else hmc.step_size_mode} step sizes'
      f'{", Hessian mass matrix" if hmc.mass_matrix == "hessian" else ""}, '
      f'seed {chains.seed}\n')
  if control.progress is None:
    control = control._replace(progress=progress_lib.ProgressPrinter(
        tfrd.passes.num_passes(hmc.step_size_mode, replayed)))
  return tfrd.estimate_rd_curve(
      decoder, images, distortion, schedule, latent_dim=latent_dim,
      prior=prior, chains=chains, control=control,
      image_indices=image_indices, config=config)


def save_step_sizes(curve, stream):
  """Writes the curve's per-chain step sizes (to replay with a new seed)."""
  np.savez(stream, step_sizes=curve.step_size_table,
           image_indices=curve.image_indices,
           num_chains=curve.config['num_chains'],
           num_transitions=curve.config['num_transitions'],
           mass_matrix=curve.config.get('mass_matrix', 'identity'),
           thermodynamic=bool(curve.config.get('schedule', {}).get(
               'thermodynamic', False)))


def load_step_sizes(path):
  """The step-size table of a step_sizes.npz `save_step_sizes` wrote.

  Raises:
    ValueError: for a file that is not one, or the table of a run whose
      mass matrix was not the identity.
  """
  try:
    with np.load(path) as arrays:
      table = arrays['step_sizes']
      # Files written before the mass matrix was recorded are identity runs.
      mass_matrix = (str(arrays['mass_matrix']) if 'mass_matrix' in arrays
                     else 'identity')
      thermodynamic = ('thermodynamic' in arrays and
                       bool(arrays['thermodynamic']))
  except (OSError, KeyError, ValueError) as error:
    raise ValueError(f'--step_sizes={path} is not a step_sizes.npz written '
                     f'by apps.rd_curve ({error}).') from None
  if mass_matrix != 'identity':
    raise ValueError(
        f'--step_sizes={path} holds the step sizes of a run with the '
        f'{mass_matrix} mass matrix, in that matrix\'s units, and not the '
        f'per-image matrices themselves: only identity runs can be replayed '
        f'(make the first run with --mass_matrix=identity).')
  if thermodynamic:
    raise ValueError(
        f'--step_sizes={path} holds the step sizes of a curve whose '
        f'schedule the accuracy search re-spaced by its measured speed; a '
        f'replay builds the schedule from its flags alone, which those step '
        f'sizes do not fit (make the first run with '
        f'--noadapt_schedule).')
  return table


def _prepare_checkpoint_dir(checkpoint_dir, settings):
  """Applies resume and overwrite (`OutputSettings`) to the checkpoints.

  Raises:
    tfrd.CheckpointDirectoryError: for a file, or a directory holding other
      files and no tfrd checkpoint.
    tfrd.CheckpointExistsError: for an unfinished run's checkpoint without
      resume or overwrite.
  """
  tfrd.checkpointing.check_directory(checkpoint_dir)
  pending = tfrd.checkpointing.has_checkpoint(checkpoint_dir)
  if settings.resume and not pending:
    sys.stderr.write(f'rd_curve: --resume: no checkpoint in {checkpoint_dir}; '
                     f'starting a fresh run.\n')
  elif pending and not settings.resume:
    if not settings.overwrite:
      raise tfrd.CheckpointExistsError(
          f'{checkpoint_dir} holds the checkpoint of an unfinished run: pass '
          f'--resume to continue it or --overwrite to discard it, or choose '
          f'another --output_dir / --checkpoint_dir.')
    tfrd.checkpointing.remove_checkpoint(checkpoint_dir)
    sys.stderr.write(f'rd_curve: --overwrite: discarded the unfinished run\'s '
                     f'checkpoint in {checkpoint_dir}.\n')


def _curve_config(job, inputs, schedule, schedule_settings):
  """curve.json's config entries that describe the job (`schedule_settings`:
  the job's, or those the accuracy search settled on)."""
  data = job.data
  return {
      'model': inputs.decoder.source,
      **inputs.model_config,
      'latent_dim': inputs.decoder.latent_dim,
      'decoder_output_shape': list(inputs.decoder.output_shape),
      'dataset': datasets.dataset_description(
          data.dataset, data.split, inputs.images.shape[0],
          data.image_offset),
      'data_shape': list(inputs.original_shape),
      'data_reshaped_to_decoder_output': inputs.reshaped,
      'data_convention': 'NHWC, pixels in [0, 1] (mnist/cifar10 as loaded; '
                         'npz as given); decoder outputs brought to it as '
                         'stated in decoder_convention',
      'schedule': {
          'kind': schedule_settings.kind,
          'num_intermediate_base': schedule_settings.num_intermediate,
          'beta_max': float(schedule.betas[-1]),
          'min_before_first': schedule_settings.min_before_first,
          'min_between': schedule_settings.min_between,
          'rd_spacing': schedule_settings.rd_spacing,
      },
      'target_accept_prob': job.chains.hmc.target_accept_prob,
      'initial_step_size': job.chains.hmc.initial_step_size,
      'title': f'{os.path.basename(job.model.path)} on {data.dataset}',
      'preset': job.preset,
  }


def run_curve(job):
  """Loads, estimates and writes the curve of `job`; then its BDMC points.

  Everything that can be refused is refused before the model is loaded:
  the strategy and the device, the output files, the checkpoint directory,
  the BDMC points.

  Args:
    job: `pipelines.settings.CurveJob`. With a strategy other than 'none'
      the images are spread over its replicas (`devices.make_strategy`,
      made first: a CPU split must precede TensorFlow's device set-up), and
      with several workers only the chief writes results; with a device,
      everything runs on it.

  Returns:
    The `tfrd.RDCurve` (None when the curve was already written).

  Raises:
    The `EXPECTED_ERRORS` for bad input; `tfrd.RunInterrupted` when stopped
    (by `jobs.stop_event()`); `distributed_run.WorkerLost`.
  """
  devices.check_strategy(job.strategy, job.cpu_devices, job.model.device)
  strategy = devices.make_strategy(job.strategy, job.cpu_devices,
                                   job.model.device)
  device = (None if job.model.device is None else
            devices.canonical_device(job.model.device))
  return devices.run_on_device(device, lambda: _run_curve(job, strategy))


def _run_curve(job, strategy):
  """`run_curve` on the strategy and device it made."""
  start = time.time()
  settings = job.outputs
  output_dir = settings.output_dir
  schedule = tfrd.schedule_from_settings(job.schedule)
  step_size_table = (load_step_sizes(settings.step_sizes)
                     if settings.step_sizes else None)
  # Refused before any work: points the distortion cannot simulate or the
  # schedule does not reach.
  _, plan = bdmc_points.plan_check(
      job, schedule, job.chains._replace(step_size_table=step_size_table))
  checkpoint_dir = settings.checkpoint_dir or os.path.join(output_dir,
                                                           'checkpoint')
  workers = distributed_run.DistributedRun('rd_curve', strategy,
                                           job.data.num_images, checkpoint_dir)
  own_checkpoint_dir = workers.own_checkpoint_dir
  outputs = output_files.OutputFiles(
      'rd_curve', output_dir, RESULT_FILES + (
          ('reconstructions.png',) if settings.save_reconstructions else ()),
      overwrite=settings.overwrite)
  tfrd.checkpointing.check_directory(own_checkpoint_dir)
  # The search keeps its attempts here until curve.json holds them (the
  # chief's alone: workers share the directory).
  search_record = os.path.join(output_dir, SEARCH_RECORD)

  def chief_verdict():
    if (os.path.lexists(search_record) and
        not tfrd.accuracy.is_search_record(search_record)):
      raise output_files.OutputError(
          f'{search_record} is not a file tfrd wrote; move it away or '
          f'choose another --output_dir.')
    return outputs.prepare(
        resume=settings.resume and
        not tfrd.checkpointing.has_checkpoint(own_checkpoint_dir))

  if workers.chief_decides(chief_verdict):
    if not workers.is_chief:
      workers.say('the chief says the curve is already written; nothing '
                  'to do.')
    elif plan.betas.size:
      _add_missing_bdmc(job, plan, outputs, workers)
    else:
      outputs.say_finished()
    return None
  _prepare_checkpoint_dir(own_checkpoint_dir, settings)
  inputs = load_inputs(job, workers)
  prior = _prior(job, inputs)
  chains = job.chains._replace(decoder_dtype=inputs.decoder.dtype,
                               step_size_table=step_size_table)
  # The check's chains: the curve's, but never XLA on a bfloat16 decoder
  # (its data are simulated by an eager call, `bdmc_points.check_chains`).
  check_chains = (bdmc_points.check_chains(chains, job.model.precision)
                  if plan.betas.size else None)
  search = None
  schedule_settings = job.schedule
  speed = None
  accuracy = _check_accuracy(job)
  if plan.betas.size and accuracy.target_gap is not None and (
      not accuracy.grow_schedule):
    bdmc_points.say_schedule_as_set(accuracy)
  elif plan.betas.size and accuracy.target_gap is not None and (
      step_size_table is None):
    # Only the chief searches, and every worker takes the schedule it
    # settled on: the check's images are not sharded, and workers whose
    # arithmetic differs (other devices) could otherwise settle on
    # different schedules for one curve.
    factor = 0
    # Where the search measures the schedule's speed (the same points on
    # every worker), and what it measured there (the chief's).
    speed_points = tfrd.accuracy.speed_schedule(schedule)
    variances = np.zeros([speed_points.rd_indices.size])
    if workers.is_chief:
      search = bdmc_points.settle_schedule(job, inputs, prior, check_chains,
                                           record_path=search_record)
      factor = (search.schedule_settings.num_intermediate //
                job.schedule.num_intermediate)
      if search.speed is not None:
        variances = np.asarray(search.speed['variances'], np.float64)
    else:
      workers.say('waiting for the chief\'s accuracy check to settle the '
                  'schedule')
    with workers.collectives():
      factor = workers.from_chief(factor)
      if job.accuracy.adapt_schedule:
        variances = workers.from_chief_values(variances)
    schedule_settings = tfrd.accuracy.lengthened(job.schedule, factor)
    if job.accuracy.adapt_schedule:
      speed = {'betas': speed_points.betas[speed_points.rd_indices],
               'variances': variances}
    schedule = tfrd.accuracy.adapted_schedule(schedule_settings, speed)
    plan = tfrd.accuracy.plan_check(inputs.distortion, schedule,
                                    job.data.num_images, chains, job.accuracy,
                                    int(prior.event_shape[-1]))
  config = _curve_config(job, inputs, schedule, schedule_settings)
  # Re-spaced by the search's measured speed: not the schedule the settings
  # alone build (a replay of its step sizes would not fit it).
  config['schedule']['thermodynamic'] = speed is not None
  if step_size_table is not None:
    config['step_sizes_from'] = os.path.abspath(settings.step_sizes)
  control = tfrd.RunControl(
      checkpoint_dir=checkpoint_dir,
      checkpoint_interval_s=settings.checkpoint_interval_s,
      stop=jobs.stop_event(), strategy=strategy)
  decoder = inputs.decoder
  with workers.collectives():
    curve = estimate(
        decoder, inputs.images, inputs.distortion, schedule, prior, chains,
        control, config, image_indices=job.data.image_offset + np.arange(
            inputs.images.shape[0]))
  curve.timing['wall_time_s'] = time.time() - start
  curve.config['strategy'] = workers.describe()
  if not workers.is_chief:
    workers.finish()
    workers.say('done; the chief (worker 0) wrote the curve.')
    return curve
  if plan.betas.size:
    # The curve states its check from the start: the search's verification,
    # or (measured after the curve) the points so far.
    curve.bdmc = list(search.check) if search else []
    curve.accuracy = tfrd.accuracy.describe(
        curve, plan, curve.bdmc, search, accuracy.target_gap,
        schedule_fixed=not accuracy.grow_schedule)
  paths = curve.save(output_dir)
  with outputs.open('step_sizes.npz', 'wb') as stream:
    save_step_sizes(curve, stream)
  paths['step_sizes'] = outputs.path('step_sizes.npz')
  if settings.save_reconstructions:
    paths['reconstructions'] = _save_reconstructions(
        inputs, curve, output_dir, settings.reconstruction_betas)
  # The curve is safe on disk: the checkpoints, and the search's record (in
  # curve.json now), have done their work.
  workers.finish()
  # Only a record tfrd wrote (a file of another kind there was refused
  # before any work, and is never removed).
  if tfrd.accuracy.is_search_record(search_record):
    os.remove(search_record)
  print_summary(curve, paths)
  # After the curve is safe on disk: BDMC only adds its gaps to it, and the
  # signal on the user's images its change between the search's schedules.
  if plan.betas.size and not search:
    bdmc_points.measure_for_curve(curve, inputs, prior, schedule, plan,
                                  accuracy, check_chains, output_dir)
  if search:
    bdmc_points.measure_user_images(curve, inputs, prior, schedule_settings,
                                    chains, output_dir)
  if curve.accuracy is not None:
    bdmc_points.print_accuracy(curve.accuracy)
  return curve


def target_status(curve, program='rd_curve'):
  """The exit status of a run whose target gap was asked for explicitly:
  `jobs.TARGET_NOT_MET` (3), with one line on stderr, when the curve's
  check did not meet it, else 0.

  The curve is written either way; the status lets a script tell a curve
  within the target it asked for from one that is not (an app that set no
  target, or took the default, exits 0 and keeps the warning).

  Args:
    curve: what `run_curve` returned (None when the curve was already
      written: 0).
    program: the name starting the line.

  Returns:
    The exit status.
  """
  accuracy = None if curve is None else curve.accuracy
  if not accuracy or accuracy.get('within_target') is not False:
    return 0
  sys.stderr.write(
      f'{program}: the target gap of {accuracy["target_gap"]:g} nats was not '
      f'met; the curve is written all the same (exit status '
      f'{jobs.TARGET_NOT_MET}).\n')
  return jobs.TARGET_NOT_MET


def _check_accuracy(job):
  """The job's accuracy settings as its check uses them.

  A replayed step-size table belongs to the schedule it was made on, which
  is therefore never lengthened, whoever set it: its check runs after the
  curve like a schedule the user set, but the advice to let tfrd lengthen
  the schedule would not apply to it.
  """
  if job.outputs.step_sizes:
    return job.accuracy._replace(grow_schedule=True)
  return job.accuracy


def _prior(job, inputs):
  return priors.prior_from_spec(job.model.prior, inputs.decoder.latent_dim)


def _add_missing_bdmc(job, plan, outputs, workers):
  """A finished run that asks for a check: measures the points its
  curve.json does not hold yet (the check stopped part way, or points asked
  for only now), on the curve as written, keeping the gaps it has; and,
  for a curve a search settled, the signal on the user's images when it
  is missing (stopped part way, or a curve of an earlier version).

  Raises:
    ValueError: when the job describes another curve than the one written
      (its RD points, chains, seed, L, step sizes or distortion differ).
  """
  output_dir = job.outputs.output_dir
  curve = tfrd.RDCurve.load(output_dir)
  done = {record['beta'] for record in curve.bdmc or []}
  schedule_settings = job.schedule
  search = (curve.accuracy or {}).get('search')
  if search:
    schedule_settings = tfrd.accuracy.lengthened(
        schedule_settings, search['settled_num_intermediate'] //
        schedule_settings.num_intermediate)
  schedule = tfrd.accuracy.adapted_schedule(
      schedule_settings, search.get('speed') if search else None)
  _, plan = bdmc_points.plan_check(job, schedule, job.chains)
  missing = [beta for beta in plan.betas if beta not in done]
  signal_missing = bool(search) and not curve.accuracy.get('user_images')
  if not missing and not signal_missing:
    outputs.say_finished()
    return
  config = curve.config or {}
  hmc = job.chains.hmc
  wanted = {'num_chains': job.chains.num_chains, 'seed': job.chains.seed,
            'num_leapfrog_steps': hmc.num_leapfrog_steps,
            'step_size_mode': ('table' if job.outputs.step_sizes else
                               hmc.step_size_mode)}
  different = [key for key, value in wanted.items()
               if config.get(key) != value]
  if not np.array_equal(curve.betas, schedule.betas[schedule.rd_indices]):
    different.insert(0, 'RD points (schedule flags)')
  if not different:
    inputs = load_inputs(job, workers)
    if config.get('distortion') != inputs.distortion.get_config():
      different.append('distortion')
  if different:
    raise ValueError(
        f'{output_dir}/curve.json was made with another '
        f'{", ".join(different)} than these flags give; pass the run\'s own '
        f'flags to add BDMC points to it.')
  prior = _prior(job, inputs)
  if signal_missing:
    # Before any missing point: measuring one describes the check anew,
    # without the search it reads the schedules from.
    sys.stderr.write(f'rd_curve: the curve in {output_dir} is finished; '
                     f'measuring the signal on your images\n')
    bdmc_points.measure_user_images(
        curve, inputs, prior, schedule_settings,
        job.chains._replace(decoder_dtype=inputs.decoder.dtype), output_dir)
  if missing:
    sys.stderr.write(
        f'rd_curve: the curve in {output_dir} is finished; measuring its '
        f'missing BDMC point(s) ({len(done)} already there)\n')
    bdmc_points.measure_for_curve(
        curve, inputs, prior, schedule,
        plan._replace(betas=np.asarray(missing)), _check_accuracy(job),
        bdmc_points.check_chains(job.chains, job.model.precision), output_dir)
  bdmc_points.print_accuracy(curve.accuracy)


def reconstruction_points(curve, wanted=None):
  """The RD points whose AIS latents are decoded (appendix D.4).

  Args:
    curve: the `tfrd.RDCurve`.
    wanted: betas; each takes the nearest recorded point in log beta (None:
      the lowest beta, beta = 1 if recorded, and the highest).

  Returns:
    Sorted point indices, without repeats.
  """
  if not wanted:
    wanted = [curve.betas[0]] + ([1.0] if 1.0 in curve.betas else []) + [
        curve.betas[-1]]
  return sorted({int(np.argmin(np.abs(np.log(curve.betas) - np.log(beta))))
                 for beta in wanted})


def decode_latents(decoder, curve, points):
  """The decoder's outputs for the AIS latents kept at `points`, a list of
  [N, ...] arrays."""
  return [np.asarray(tfrd.decoders.call_in_inference_mode(
      decoder, curve.latents[point].astype(np.float32))) for point in points]


def _save_reconstructions(inputs, curve, output_dir, wanted=None):
  """reconstructions.png: the data beside decodings of the AIS latents."""
  points = reconstruction_points(curve, wanted)
  columns = {
      f'beta={curve.betas[point]:.3g}\nR={curve.rate[point]:.1f}':
          decoded.reshape(inputs.images.shape)
      for point, decoded in zip(points, decode_latents(inputs.decoder, curve,
                                                       points))}
  return tfrd.plot_reconstructions(
      inputs.images, columns, os.path.join(output_dir, 'reconstructions.png'),
      image_shape=inputs.image_shape)


def print_summary(curve, paths):
  """The curve's table on stdout (README.md, "What a run prints and writes")."""
  print(f'{"beta":>12} {"rate":>10} {"distortion":>12} {"log_z":>12}')
  for point in curve.points():
    print(f'{point["beta"]:12.5g} {point["rate"]:10.4f} '
          f'{point["distortion"]:12.5g} {point["log_z"]:12.5g}')
  if curve.log_likelihood is not None:
    print(f'log-likelihood at beta = 1: {curve.log_likelihood:.4f} nats '
          f'per image (Prop. 2c; a stochastic lower bound)')
  print(f'wall time {curve.timing["wall_time_s"]:.1f} s; wrote ' +
        ', '.join(paths[k] for k in sorted(paths)))
