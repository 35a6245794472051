r"""Estimates the rate-prior distortion curve of a decoder.

    python -m apps.rd_curve --model=decoder.keras --dataset=mnist \
        --num_images=20 --output_dir=runs/my_model

The decoder is a Keras 3 model saved as `.keras` (or another format, see
--model) whose input is the latent vector and whose output is the image;
the prior is a standard normal of the input's size. Writes curve.json,
curve.csv, curve.npz, curve.png and step_sizes.npz into --output_dir
(README.md, "What a run prints and writes"), printing progress to stderr.

The flags become a `pipelines.settings.CurveJob` (`job_from_flags`); the
run is `pipelines.curve_run.run_curve`, which Python scripts call too.
TensorFlow is imported only once the flags are parsed.
"""

import sys

from absl import flags

from apps import ais_flags
from apps import bdmc_flags
from apps import model_flags
from apps import number_flags
from apps import output_flags
from apps import precision_flags
from apps import strategy_flags
from pipelines import jobs
from pipelines import settings as pipeline_settings

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
    "'mnist' (TensorFlow Datasets: prepared offline from --data_dir or "
    "$TFRD_DATA_DIR, else downloaded once by TFDS), 'cifar10' (TFDS, if "
    "prepared) or 'npz:PATH' (array under key 'x', leading axis = images).")
flags.DEFINE_string('split', 'test', 'Dataset split for mnist / cifar10.')
flags.DEFINE_integer('num_images', pipeline_settings.DataSettings.num_images,
                     'Number of images (the first N).')
flags.DEFINE_integer('image_offset', 0, 'Index of the first image used.')
flags.DEFINE_string(
    'data_dir', None,
    'Directory holding mnist/ with the four original MNIST .gz files, used to '
    'prepare TFDS offline (default: $TFRD_DATA_DIR; without either, TFDS '
    'downloads MNIST).')
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
bdmc_flags.define_flags()
# Show the AIS, model loading and precision flags in --help, not only under
# --helpfull.
flags.adopt_module_key_flags(ais_flags)
flags.adopt_module_key_flags(model_flags)
flags.adopt_module_key_flags(precision_flags)
flags.adopt_module_key_flags(strategy_flags)
flags.adopt_module_key_flags(bdmc_flags)
flags.adopt_module_key_flags(output_flags)


def job_from_flags(model_path, preset):
  """The `pipelines.settings.CurveJob` the flags describe.

  Args:
    model_path: the decoder (--model, or the pretrained default).
    preset: the preset applied (recorded in curve.json).

  Raises:
    ValueError: for impossible values, one line naming the flag.
  """
  if FLAGS.checkpoint_interval_s < 0:
    raise ValueError(f'--checkpoint_interval_s must be 0 or more, got '
                     f'{FLAGS.checkpoint_interval_s}.')
  if FLAGS.blur_sigma < 0:
    raise ValueError(f'--blur_sigma must be 0 (off) or more, got '
                     f'{FLAGS.blur_sigma}.')
  reconstruction_betas = number_flags.floats_from_flags(
      'reconstruction_betas')
  if reconstruction_betas is not None:
    if not all(beta > 0 for beta in reconstruction_betas):
      raise ValueError(f'--reconstruction_betas must be positive, got '
                       f'{list(reconstruction_betas)}.')
  strategy, cpu_devices = strategy_flags.strategy_from_flags()
  model = pipeline_settings.ModelSettings(
      path=model_path, model_format=FLAGS.model_format,
      signature=FLAGS.signature, latent_dim=FLAGS.latent_dim,
      output_layout=FLAGS.output_layout, output_range=FLAGS.output_range,
      output_kind=FLAGS.output_kind,
      output_image_shape=(tuple(FLAGS.output_image_shape)
                          if FLAGS.output_image_shape else None),
      prior=FLAGS.prior, blur_sigma=FLAGS.blur_sigma,
      blur_padding=FLAGS.blur_padding, **model_flags.loading_from_flags(),
      **precision_flags.precision_from_flags())
  data = pipeline_settings.DataSettings(
      dataset=FLAGS.dataset, split=FLAGS.split, num_images=FLAGS.num_images,
      image_offset=FLAGS.image_offset, data_dir=FLAGS.data_dir,
      tfds_data_dir=FLAGS.tfds_data_dir,
      image_shape=(tuple(int(d) for d in FLAGS.image_shape)
                   if FLAGS.image_shape else None))
  outputs = pipeline_settings.OutputSettings(
      output_dir=FLAGS.output_dir, checkpoint_dir=FLAGS.checkpoint_dir,
      resume=FLAGS.resume, overwrite=FLAGS.overwrite,
      checkpoint_interval_s=FLAGS.checkpoint_interval_s,
      step_sizes=FLAGS.step_sizes,
      save_reconstructions=FLAGS.save_reconstructions,
      reconstruction_betas=reconstruction_betas)
  chains = ais_flags.chain_settings_from_flags()
  if FLAGS.step_sizes and FLAGS.mass_matrix is None:
    # A replayed table has no pass that could measure the Hessian.
    chains = chains._replace(hmc=chains.hmc._replace(mass_matrix='identity'))
  return pipeline_settings.CurveJob(
      model=model, data=data,
      distortion=ais_flags.distortion_settings_from_flags(),
      schedule=ais_flags.schedule_settings_from_flags(),
      chains=chains, outputs=outputs,
      accuracy=bdmc_flags.accuracy_settings_from_flags(), strategy=strategy,
      cpu_devices=cpu_devices, preset=preset)


def main(argv):
  del argv  # jobs.run refused stray arguments.
  model_path = FLAGS.model
  if not model_path:
    # Without --model the app demonstrates itself on a pretrained GAN.
    from zoo import pretrained  # pylint: disable=g-import-not-at-top
    model_path = pretrained.path(pretrained.DEFAULT)
    preset = ais_flags.preset_from_flags(default='quick')
    sys.stderr.write(
        f'rd_curve: no --model; evaluating the pretrained {pretrained.DEFAULT} '
        f'on MNIST with --preset={preset}\n')
  else:
    preset = ais_flags.preset_from_flags()

  # After the flags are parsed: TensorFlow loads here, not for --help.
  # pylint: disable=g-import-not-at-top
  from pipelines import curve_run
  from pipelines import distributed_run
  # pylint: enable=g-import-not-at-top
  # A target asked for explicitly is a verdict the run must not hide in a
  # warning: not met, the curve is written and the exit status says so.
  target_asked = FLAGS['target_gap'].present
  return jobs.run_job(
      'rd_curve',
      lambda: curve_run.run_curve(job_from_flags(model_path, preset)),
      curve_run.EXPECTED_ERRORS,
      interrupted_message='interrupted; continue with the same flags and '
      '--resume.',
      exit_status=lambda curve: (curve_run.target_status(curve)
                                 if target_asked else 0),
      failures=(distributed_run.WorkerLost,))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
