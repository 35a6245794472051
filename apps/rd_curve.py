r"""Estimates the rate-prior distortion curve of a Keras decoder.

    python -m apps.rd_curve --model=decoder.keras --dataset=mnist \
        --num_images=20 --output_dir=runs/my_model

The decoder is a Keras 3 model saved as `.keras` whose input is the latent
vector and whose output is the image; the prior is a standard normal of the
input's size. Writes curve.json, curve.csv, curve.npz and curve.png into
--output_dir (format: README.md, "Outputs (in --output_dir)"), printing
progress to stderr.
"""

import os
import sys
import time

from absl import flags
import numpy as np

from adapters import conventions
from adapters import datasets
from adapters import keras_decoder
from adapters import manipulations
from adapters import models
from adapters import priors
from apps import ais_flags
from apps import bdmc_points
from apps import output_flags
from pipelines import jobs
from pipelines import output_files
from apps import model_flags
from apps import precision_flags
from pipelines import distributed_run
from apps import strategy_flags
from pipelines import progress as progress_lib
import tfrd

FLAGS = flags.FLAGS

flags.DEFINE_string(
    'model', None,
    'The decoder: a Keras 3 .keras file, a tf_keras SavedModel directory or '
    '.h5 file, a TF SavedModel directory (see --signature), or '
    'py:package.module:attribute for any Python callable. Default: the '
    'pretrained MNIST GAN of zoo/pretrained, with --preset=quick unless '
    'another preset is given.')

flags.DEFINE_enum('model_format', 'auto',
                  ['auto', 'keras3', 'tf_keras', 'saved_model', 'python'],
                  'Override the format detected from --model.')
flags.DEFINE_string(
    'signature', None,
    "TF SavedModel: the signature to call (default 'serving_default' or the "
    "only one), or attr:NAME for a tf.function attribute.")
flags.DEFINE_integer('latent_dim', None,
                     'Latent size, for decoders that do not declare it.')
flags.DEFINE_enum('output_layout', 'nhwc', ['nhwc', 'nchw'],
                  "Layout of the decoder's image output.")
flags.DEFINE_enum('output_range', '0_1', ['0_1', '-1_1'],
                  "Range of the decoder's output: [0, 1], or [-1, 1] (tanh "
                  'generators; mapped to [0, 1] like the data).')
flags.DEFINE_enum(
    'output_kind', 'image', ['image', 'logits', 'mean_logvar'],
    "What the decoder returns: an image, Bernoulli logits (sigmoid applied, "
    "or kept with --bernoulli_from_logits), or a Gaussian's mean and "
    "log-variance (use --distortion=gaussian_nll --gaussian_scale=decoder).")
flags.DEFINE_list('output_image_shape', None,
                  'Image shape of a flattened decoder output, in its own '
                  'layout (e.g. 1,28,28 for NCHW).')
flags.DEFINE_string(
    'prior', 'normal',
    "Prior over the latent: 'normal', 'mixture:ALPHA[:VARIANCE]' (the "
    "damaged prior (1-a)N(0,I) + aN(0,10I) of §6.2) or py:module:attribute "
    '(a TFP distribution, or a function of latent_dim returning one).')
flags.DEFINE_float('blur_sigma', 0.0,
                   'Blur the decoder output with a Gaussian of this sigma in '
                   'pixels (§6.2); 0 = off.')
flags.DEFINE_enum('blur_padding', 'reflect', ['reflect', 'zero'],
                  'Border handling of --blur_sigma.')
flags.DEFINE_string(
    'dataset', 'mnist',
    "'mnist' (TensorFlow Datasets; offline from $TFRD_DATA_DIR or "
    "--data_dir), 'cifar10' (TFDS, if prepared) or 'npz:PATH' (array under "
    "key 'x', leading axis = images).")
flags.DEFINE_string('split', 'test', 'Dataset split for mnist / cifar10.')
flags.DEFINE_integer('num_images', 20, 'Number of images (the first N).')
flags.DEFINE_integer('image_offset', 0, 'Index of the first image used.')
flags.DEFINE_string(
    'data_dir', None,
    'Directory holding mnist/ with the four original MNIST .gz files, used to '
    'prepare TFDS offline (default: $TFRD_DATA_DIR).')
flags.DEFINE_string('tfds_data_dir', None,
                    'TFDS data directory (default: $TFDS_DATA_DIR or '
                    '~/tensorflow_datasets).')
flags.DEFINE_string('output_dir', 'rd_curve_output',
                    'Directory for curve.json, curve.csv, curve.npz, curve.png.')
flags.DEFINE_string(
    'checkpoint_dir', None,
    'Where the chain state is checkpointed (default: OUTPUT_DIR/checkpoint): '
    'a new or empty directory, or one holding a tfrd checkpoint. A killed run '
    'continues with --resume and gives exactly the curve of an uninterrupted '
    'run. Once the curve is written tfrd deletes its own checkpoint files '
    '(never anything else), and the directory only if it created it.')
flags.DEFINE_bool(
    'resume', False,
    'Continue the run checkpointed in --checkpoint_dir (with nothing to '
    'resume, say so and start afresh; with the run finished, say where its '
    'curve is and stop).')
output_flags.define_overwrite_flag()
flags.DEFINE_float('checkpoint_interval_s', 60.0,
                   'Least seconds between checkpoints.')
flags.DEFINE_string(
    'step_sizes', None,
    'step_sizes.npz written by an earlier run (same images, chains and '
    'schedule): replay its per-chain HMC step sizes frozen instead of a '
    'preliminary run (appendix D.2); use a new --seed for a seed study.')
flags.DEFINE_bool(
    'save_reconstructions', False,
    'Write reconstructions.png: the data and decodings of latents drawn from '
    'the AIS distribution at --reconstruction_betas (appendix D.4).')
flags.DEFINE_list('image_shape', None,
                  'Height,width,channels of flat data, for image grids '
                  '(guessed for square images).')
flags.DEFINE_list(
    'reconstruction_betas', None,
    'RD betas to show (nearest recorded points); default: the lowest, beta = 1 '
    'if present, and the highest.')
ais_flags.define_ais_flags()
model_flags.define_model_loading_flags()
precision_flags.define_precision_flags()
strategy_flags.define_strategy_flags()
bdmc_points.define_flags()
# Show the AIS, model loading and precision flags in --help, not only under
# --helpfull.
flags.adopt_module_key_flags(ais_flags)
flags.adopt_module_key_flags(model_flags)
flags.adopt_module_key_flags(precision_flags)
flags.adopt_module_key_flags(strategy_flags)
flags.adopt_module_key_flags(bdmc_points)


# What a run writes into --output_dir; curve.json, first, marks it finished.
_RESULT_FILES = ('curve.json', 'curve.csv', 'curve.npz', 'curve.png',
                 'step_sizes.npz')


def run(model_path, output_dir, strategy=None):
  """Loads, estimates and writes; returns the `RDCurve` (None if finished).

  With a `strategy` (--strategy), the images are spread over its replicas;
  with several workers only the chief writes into `output_dir`.
  """
  start = time.time()
  _check_flags()
  schedule = ais_flags.schedule_from_flags()
  bdmc_betas = bdmc_points.points_from_flags(schedule)
  checkpoint_dir = FLAGS.checkpoint_dir or os.path.join(output_dir,
                                                        'checkpoint')
  workers = distributed_run.DistributedRun('rd_curve', strategy,
                                           FLAGS.num_images, checkpoint_dir)
  own_checkpoint_dir = workers.own_checkpoint_dir
  outputs = output_files.OutputFiles(
      'rd_curve', output_dir, _RESULT_FILES + (
          ('reconstructions.png',) if FLAGS.save_reconstructions else ()),
      overwrite=FLAGS.overwrite)
  tfrd.checkpointing.check_directory(own_checkpoint_dir)
  if workers.chief_decides(lambda: outputs.prepare(
      resume=FLAGS.resume and
      not tfrd.checkpointing.has_checkpoint(own_checkpoint_dir))):
    if not workers.is_chief:
      workers.say('the chief says the curve is already written; nothing '
                  'to do.')
    elif np.size(bdmc_betas):
      _add_missing_bdmc(model_path, output_dir, bdmc_betas, schedule,
                        outputs, workers)
    else:
      outputs.say_finished()
    return None
  _prepare_checkpoint_dir(own_checkpoint_dir)
  (decoder, model_config, images, original_shape, image_shape, reshaped,
   distortion) = _load_inputs(model_path, workers)
  sys.stderr.write(
      f'rd_curve: {model_path} (latent {decoder.latent_dim}, output '
      f'{decoder.output_shape}) on {images.shape[0]} images of '
      f'{FLAGS.dataset}; {schedule.num_transitions} transitions, '
      f'{schedule.rd_indices.size} RD points, {FLAGS.num_chains} chains, '
      f'L={FLAGS.leapfrog_steps}, {FLAGS.step_size_mode} step sizes\n')
  config = {
      'model': decoder.source,
      **model_config,
      'latent_dim': decoder.latent_dim,
      'decoder_output_shape': list(decoder.output_shape),
      'dataset': datasets.dataset_description(
          FLAGS.dataset, FLAGS.split, images.shape[0], FLAGS.image_offset),
      'data_shape': list(original_shape),
      'data_reshaped_to_decoder_output': reshaped,
      'data_convention': 'NHWC, pixels in [0, 1] (mnist/cifar10 as loaded; '
                         'npz as given); decoder outputs brought to it as '
                         'stated in decoder_convention',
      'schedule': {
          'kind': FLAGS.schedule,
          'num_intermediate_base': FLAGS.num_intermediate,
          'beta_max': float(schedule.betas[-1]),
          'min_before_first': FLAGS.min_before_first,
          'min_between': FLAGS.min_between,
          'rd_spacing': FLAGS.rd_spacing,
      },
      'target_accept_prob': FLAGS.target_accept,
      'initial_step_size': FLAGS.initial_step_size,
      'title': f'{os.path.basename(model_path)} on {FLAGS.dataset}',
      'preset': FLAGS.preset or ('quick' if not FLAGS.model else None),
  }
  step_size_table = None
  if FLAGS.step_sizes:
    step_size_table = _load_step_sizes(FLAGS.step_sizes)
    config['step_sizes_from'] = os.path.abspath(FLAGS.step_sizes)
  with workers.collectives():
    curve = _estimate(decoder, images, distortion, schedule, config,
                      step_size_table, checkpoint_dir, strategy)
  curve.timing['wall_time_s'] = time.time() - start
  curve.config['strategy'] = workers.describe()
  if not workers.is_chief:
    workers.finish()
    workers.say('done; the chief (worker 0) wrote the curve.')
    return curve
  paths = curve.save(output_dir)
  paths['step_sizes'] = _save_step_sizes(curve, outputs)
  if FLAGS.save_reconstructions:
    paths['reconstructions'] = _save_reconstructions(
        decoder, images, curve, output_dir, image_shape)
  # The curve is safe on disk: the checkpoints have done their work.
  workers.finish()
  _print_summary(curve, paths)
  # After the curve is safe on disk: BDMC only adds its gaps to it.
  bdmc_points.run_from_flags(curve, decoder, distortion, output_dir,
                             bdmc_betas, schedule)
  return curve


def _load_inputs(model_path, workers):
  """The decoder (blurred if asked), the images brought to its output
  layout, and the distortion, as the flags describe them.

  Returns:
    (decoder, model_config, images, original_shape, image_shape, reshaped,
    distortion): `original_shape` is the data's shape per image,
    `image_shape` its (H, W, C) layout where something needs it (else None),
    `reshaped` whether the data was reshaped to the decoder's output.
  """
  with workers.scope():
    decoder, model_config = load_model_from_flags(model_path)
  images = datasets.load_dataset(FLAGS.dataset, FLAGS.num_images,
                                 split=FLAGS.split, data_dir=FLAGS.data_dir,
                                 tfds_data_dir=FLAGS.tfds_data_dir,
                                 offset=FLAGS.image_offset)
  original_shape = tuple(images.shape[1:])
  needs_images = (FLAGS.save_reconstructions or FLAGS.blur_sigma > 0 or
                  FLAGS.distortion in ('ssim', 'features'))
  image_shape = (_image_shape(original_shape) if needs_images else None)
  if FLAGS.blur_sigma > 0:
    # Blur in the data's image layout; the output keeps the decoder's shape.
    output_shape = decoder.output_shape
    decoder = manipulations.gaussian_blur(decoder, FLAGS.blur_sigma,
                                          image_shape=image_shape,
                                          padding=FLAGS.blur_padding)
    if tuple(decoder.output_shape) != tuple(output_shape):
      images = images.reshape((images.shape[0],) + tuple(decoder.output_shape))
    model_config['decoder'] = decoder.describe()
  images, reshaped = keras_decoder.match_data_to_decoder(
      images, decoder.output_shape)
  distortion = ais_flags.distortion_from_flags(image_shape)
  return (decoder, model_config, images, original_shape, image_shape,
          reshaped, distortion)


def _add_missing_bdmc(model_path, output_dir, bdmc_betas, schedule, outputs,
                      workers):
  """--resume of a finished run with --bdmc_points: measures the points
  its curve.json does not hold yet (BDMC stopped part way, or points asked
  for only now), on the curve as written, keeping the gaps it has.

  Raises:
    ValueError: when the flags describe another curve than the one written
      (its RD points, chains, seed, L, step sizes or distortion differ).
  """
  curve = tfrd.RDCurve.load(output_dir)
  done = {record['beta'] for record in curve.bdmc or []}
  missing = np.asarray([beta for beta in bdmc_betas if beta not in done])
  if not missing.size:
    outputs.say_finished()
    return
  config = curve.config or {}
  kwargs = ais_flags.ais_kwargs_from_flags()
  hmc = kwargs['hmc_settings']
  wanted = {'num_chains': kwargs['num_chains'], 'seed': kwargs['seed'],
            'num_leapfrog_steps': hmc.num_leapfrog_steps,
            'step_size_mode': ('table' if FLAGS.step_sizes else
                               hmc.step_size_mode)}
  different = [key for key, value in wanted.items()
               if config.get(key) != value]
  if not np.array_equal(curve.betas, schedule.betas[schedule.rd_indices]):
    different.insert(0, 'RD points (schedule flags)')
  if not different:
    decoder, unused_config, unused_images, unused_shape, unused_layout, \
        unused_reshaped, distortion = _load_inputs(model_path, workers)
    if config.get('distortion') != distortion.get_config():
      different.append('distortion')
  if different:
    raise ValueError(
        f'{output_dir}/curve.json was made with another '
        f'{", ".join(different)} than these flags give; pass the run\'s own '
        f'flags to add BDMC points to it.')
  sys.stderr.write(
      f'rd_curve: the curve in {output_dir} is finished; measuring its '
      f'missing BDMC point(s) ({len(done)} already there)\n')
  bdmc_points.run_from_flags(curve, decoder, distortion, output_dir, missing,
                             schedule)


def _estimate(decoder, images, distortion, schedule, config, step_size_table,
              checkpoint_dir, strategy):
  """`tfrd.estimate_rd_curve` with the AIS flags (resumes a checkpoint)."""
  num_passes = tfrd.passes.num_passes(FLAGS.step_size_mode,
                                      step_size_table is not None)
  return tfrd.estimate_rd_curve(
      decoder, images, distortion, schedule, latent_dim=decoder.latent_dim,
      prior=priors.prior_from_spec(FLAGS.prior, decoder.latent_dim),
      decoder_dtype=decoder.dtype,
      image_indices=FLAGS.image_offset + np.arange(images.shape[0]),
      progress=progress_lib.ProgressPrinter(num_passes), config=config,
      step_size_table=step_size_table, checkpoint_dir=checkpoint_dir,
      checkpoint_interval_s=FLAGS.checkpoint_interval_s,
      stop=jobs.stop_event(), strategy=strategy,
      **ais_flags.ais_kwargs_from_flags())


def _check_flags():
  """Refuses impossible flag values before any work (one line, status 2)."""
  ais_flags.check_flags()
  strategy_flags.check_strategy_flags()
  if FLAGS.checkpoint_interval_s < 0:
    raise ValueError(f'--checkpoint_interval_s must be 0 or more, got '
                     f'{FLAGS.checkpoint_interval_s}.')
  if FLAGS.blur_sigma < 0:
    raise ValueError(f'--blur_sigma must be 0 (off) or more, got '
                     f'{FLAGS.blur_sigma}.')
  _reconstruction_betas()


def _reconstruction_betas():
  """--reconstruction_betas as floats (None for the default choice)."""
  if not FLAGS.reconstruction_betas:
    return None
  try:
    betas = [float(beta) for beta in FLAGS.reconstruction_betas]
  except ValueError:
    raise ValueError(f'--reconstruction_betas must be numbers, got '
                     f'{",".join(FLAGS.reconstruction_betas)}.') from None
  if not all(beta > 0 for beta in betas):
    raise ValueError(f'--reconstruction_betas must be positive, got {betas}.')
  return betas


def _prepare_checkpoint_dir(checkpoint_dir):
  """Applies --resume and --overwrite to the checkpoint directory.

  Raises:
    tfrd.CheckpointDirectoryError: for a file, or a directory holding other
      files and no tfrd checkpoint.
    tfrd.CheckpointExistsError: for an unfinished run's checkpoint without
      --resume or --overwrite.
  """
  tfrd.checkpointing.check_directory(checkpoint_dir)
  pending = tfrd.checkpointing.has_checkpoint(checkpoint_dir)
  if FLAGS.resume and not pending:
    sys.stderr.write(f'rd_curve: --resume: no checkpoint in {checkpoint_dir}; '
                     f'starting a fresh run.\n')
  elif pending and not FLAGS.resume:
    if not FLAGS.overwrite:
      raise tfrd.CheckpointExistsError(
          f'{checkpoint_dir} holds the checkpoint of an unfinished run: pass '
          f'--resume to continue it or --overwrite to discard it, or choose '
          f'another --output_dir / --checkpoint_dir.')
    tfrd.checkpointing.remove_checkpoint(checkpoint_dir)
    sys.stderr.write(f'rd_curve: --overwrite: discarded the unfinished run\'s '
                     f'checkpoint in {checkpoint_dir}.\n')


def load_model_from_flags(model_path):
  """The decoder --model and the output/manipulation flags describe.

  Returns:
    (LoadedDecoder, dict for curve.json).

  Raises:
    ModelError, ValueError: for unusable models or inconsistent flags.
  """
  if FLAGS.output_kind == 'mean_logvar' and not (
      FLAGS.distortion == 'gaussian_nll' and FLAGS.gaussian_scale == 'decoder'):
    raise ValueError('--output_kind=mean_logvar needs --distortion='
                     'gaussian_nll --gaussian_scale=decoder.')
  if FLAGS.gaussian_scale == 'decoder' and FLAGS.output_kind != 'mean_logvar':
    raise ValueError('--gaussian_scale=decoder needs a decoder that returns a '
                     'mean and a log-variance: --output_kind=mean_logvar.')
  keep_logits = (FLAGS.output_kind == 'logits' and
                 FLAGS.distortion == 'bernoulli_nll' and
                 FLAGS.bernoulli_from_logits)
  if FLAGS.bernoulli_from_logits and not keep_logits:
    raise ValueError('--bernoulli_from_logits needs --output_kind=logits and '
                     '--distortion=bernoulli_nll.')
  decoder = models.load_decoder(
      model_path, model_format=FLAGS.model_format, signature=FLAGS.signature,
      latent_dim=FLAGS.latent_dim,
      allow_multiple_outputs=FLAGS.output_kind == 'mean_logvar',
      **model_flags.loading_kwargs_from_flags('rd_curve'))
  # Before the output conventions wrap it: the Keras model is rebuilt.
  decoder, precision_config = precision_flags.apply_precision_flags(
      decoder, 'rd_curve')
  image_shape = (None if not FLAGS.output_image_shape else
                 tuple(int(d) for d in FLAGS.output_image_shape))
  convention = dict(layout=FLAGS.output_layout, value_range=FLAGS.output_range,
                    output_kind=FLAGS.output_kind,
                    flattened_image_shape=image_shape, keep_logits=keep_logits)
  decoder = conventions.apply_output_convention(decoder, **convention)
  config = {
      'decoder': decoder.describe(),
      'decoder_convention': conventions.describe_convention(**convention),
      'prior': priors.describe_prior_spec(FLAGS.prior),
      'blur_sigma': FLAGS.blur_sigma,
      **model_flags.describe_loading_flags(),
      **precision_config,
  }
  return decoder, config


def _save_step_sizes(curve, outputs):
  with outputs.open('step_sizes.npz', 'wb') as stream:
    np.savez(stream, step_sizes=curve.step_size_table,
             image_indices=curve.image_indices,
             num_chains=curve.config['num_chains'],
             num_transitions=curve.config['num_transitions'])
  return outputs.path('step_sizes.npz')


def _load_step_sizes(path):
  try:
    with np.load(path) as arrays:
      return arrays['step_sizes']
  except (OSError, KeyError, ValueError) as error:
    raise ValueError(f'--step_sizes={path} is not a step_sizes.npz written '
                     f'by apps.rd_curve ({error}).') from None


def _save_reconstructions(decoder, images, curve, output_dir, image_shape):
  """Decodes the AIS-distribution latents kept at a few RD points."""
  wanted = _reconstruction_betas()
  if wanted is None:
    wanted = [curve.betas[0]] + ([1.0] if 1.0 in curve.betas else []) + [
        curve.betas[-1]]
  columns = {}
  for beta in wanted:
    point = int(np.argmin(np.abs(np.log(curve.betas) - np.log(beta))))
    latents = curve.latents[point].astype(np.float32)
    decoded = np.asarray(
        tfrd.decoders.call_in_inference_mode(decoder, latents))
    columns[f'beta={curve.betas[point]:.3g}\nR={curve.rate[point]:.1f}'] = (
        decoded.reshape(images.shape))
  return tfrd.plot_reconstructions(
      images, columns, os.path.join(output_dir, 'reconstructions.png'),
      image_shape=image_shape)


def _image_shape(data_shape):
  """(H, W, C) of images with per-example shape `data_shape`.

  Raises:
    ValueError: if no such shape is known (before any work is done).
  """
  if FLAGS.image_shape:
    shape = tuple(int(d) for d in FLAGS.image_shape)
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


def _print_summary(curve, paths):
  print(f'{"beta":>12} {"rate":>10} {"distortion":>12} {"log_z":>12}')
  for point in curve.points():
    print(f'{point["beta"]:12.5g} {point["rate"]:10.4f} '
          f'{point["distortion"]:12.5g} {point["log_z"]:12.5g}')
  if curve.log_likelihood is not None:
    print(f'log-likelihood at beta = 1: {curve.log_likelihood:.4f} nats '
          f'per image (Prop. 2c; a stochastic lower bound)')
  print(f'wall time {curve.timing["wall_time_s"]:.1f} s; wrote ' +
        ', '.join(paths[k] for k in sorted(paths)))


def main(argv):
  model_path = FLAGS.model
  if not model_path:
    # Without --model the app demonstrates itself on a pretrained GAN.
    from zoo import pretrained  # pylint: disable=g-import-not-at-top
    model_path = pretrained.path(pretrained.DEFAULT)
    preset = ais_flags.apply_preset(default='quick')
    sys.stderr.write(
        f'rd_curve: no --model; evaluating the pretrained {pretrained.DEFAULT} '
        f'on MNIST with --preset={preset}\n')
  else:
    ais_flags.apply_preset()
  return jobs.run_job(
      'rd_curve', lambda: _job(model_path),
      (keras_decoder.ModelError, datasets.DatasetError,
       tfrd.DecoderOutputError, ValueError, OSError),
      interrupted_message='interrupted; continue with the same flags and '
      '--resume.', failures=(distributed_run.WorkerLost,))


def _job(model_path):
  """Checks the flags, sets up the strategy and the device, and runs."""
  _check_flags()
  # First: --cpu_devices must split the CPU before TensorFlow initializes
  # its devices, which --device's check does.
  strategy = strategy_flags.strategy_from_flags()
  return precision_flags.run_on_device_from_flags(
      lambda: run(model_path, FLAGS.output_dir, strategy))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
