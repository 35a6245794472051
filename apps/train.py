r"""Trains a generative model of the zoo and exports its decoder for tfrd.

    python -m apps.train --family=vae --code_size=10 --depth=shallow \
        --dataset=mnist --num_train=20000 --epochs=10 --output=runs/vae.keras

Families: vae, gan (--gan_r1_penalty), aae, wae (--wae_penalty=mmd|gan),
wgan, wgan_gp, sngan, fgan (--divergence=kl|reverse_kl|pearson|hellinger|js),
entropic_gan (--entropic_lambda). MNIST gets the MLP networks of the paper's
appendix D.1 (--depth=shallow: one hidden layer of 1024; deep: three);
32×32×3 images (--dataset=synthetic32 or cifar10) get DCGAN networks.

Writes, for --output=DIR/NAME.keras:

- DIR/NAME.keras: the decoder, codes [B, D] ~ N(0, I) -> images [B, H, W, C]
  in [0, 1]; `python -m apps.rd_curve --model=DIR/NAME.keras` evaluates it.
- DIR/NAME.json: its metadata (`zoo.metadata.read`), with this command.
- DIR/NAME_samples.png: 64 samples of the final decoder; every
  --samples_every epochs also DIR/NAME_samples/epoch_NNN.png.
- entropic_gan only: DIR/NAME_critics.keras, the two critics (for
  `apps.entropic_gan`).

The run is a deterministic function of --seed. With --checkpoint_dir it is
checkpointed every epoch (and every --checkpoint_interval_s): the same
command continues an interrupted run exactly where it stopped, and a larger
--epochs extends a finished one.
"""

import os
import platform
import shlex
import sys
import time

from absl import app
from absl import flags
import numpy as np

from adapters import datasets
from apps import output_flags
from pipelines import jobs
from pipelines import output_files

FLAGS = flags.FLAGS

_FAMILIES = ('vae', 'gan', 'aae', 'wae', 'wgan', 'wgan_gp', 'sngan', 'fgan',
             'entropic_gan')
_SYNTHETIC = 'synthetic32'
_NUM_SAMPLES = 64
# Seed of the synthetic images: fixed, so that runs with different --seed
# train on the same data.
_SYNTHETIC_DATA_SEED = 0

flags.DEFINE_enum('family', None, _FAMILIES, 'Model family.')
flags.DEFINE_integer('code_size', 10, 'Latent size D (prior N(0, I)).')
flags.DEFINE_enum('depth', 'shallow', ['shallow', 'deep'],
                  'MLP depth: one or three hidden layers (appendix D.1).')
flags.DEFINE_integer('width', None,
                     'Hidden units of the MLPs (default 1024) or base filters '
                     'of the DCGAN networks (default 64).')
flags.DEFINE_enum('architecture', 'auto', ['auto', 'mlp', 'dcgan'],
                  "'auto': DCGAN networks for 32×32×3 images, MLPs "
                  'otherwise.')
flags.DEFINE_string(
    'dataset', 'mnist',
    "'mnist' (TFDS, offline from $TFRD_DATA_DIR), 'synthetic32' (generated "
    "32×32×3 images), 'cifar10' (TFDS, if prepared) or 'npz:PATH' (images "
    "[N, H, W(, C)] in [0, 1] under key 'x').")
flags.DEFINE_integer('num_train', 10000,
                     'Training images (the first N of the train split).')
flags.DEFINE_integer('epochs', 10, 'Epochs (total, including resumed ones).')
flags.DEFINE_integer('batch_size', 64, 'Images per training step.')
flags.DEFINE_string('output', None, 'Path of the decoder, ending in .keras.')
output_flags.define_overwrite_flag()
flags.DEFINE_integer('seed', 0, 'Seed of weights, noise and data order.')
flags.DEFINE_string(
    'checkpoint_dir', None,
    'Checkpoint the training state here (tf.train.Checkpoint) and resume '
    'from it: an interrupted run continues exactly where it stopped.')
flags.DEFINE_float('checkpoint_interval_s', 120.0,
                   'Least seconds between mid-epoch checkpoints.')
flags.DEFINE_integer('samples_every', 1,
                     'Write a grid of samples every N epochs (0: only the '
                     'final one).')
flags.DEFINE_string('samples_dir', None,
                    'Folder of the per-epoch grids (default: OUTPUT stem + '
                    '_samples/).')
flags.DEFINE_float('learning_rate', None,
                   "Replaces every learning rate of the family's recipe.")
flags.DEFINE_enum('divergence', 'js',
                  ['kl', 'reverse_kl', 'pearson', 'hellinger', 'js'],
                  'f-divergence of --family=fgan.')
flags.DEFINE_enum('wae_penalty', 'mmd', ['mmd', 'gan'],
                  'Penalty on the codes of --family=wae.')
flags.DEFINE_float('gan_r1_penalty', 0.0,
                   'γ of the R1 gradient penalty on data of --family=gan '
                   '(0: the plain non-saturating GAN).')
flags.DEFINE_float('entropic_lambda', 0.1,
                   'Entropy weight λ of --family=entropic_gan; its surrogate '
                   'likelihood is exp(-squared error / λ).')
flags.DEFINE_string('data_dir', None,
                    'Directory with mnist/ raw files (default: '
                    '$TFRD_DATA_DIR).')
flags.DEFINE_string('tfds_data_dir', None, 'TFDS data directory.')
flags.DEFINE_float('log_interval_s', 10.0,
                   'Least seconds between progress lines within an epoch.')
flags.DEFINE_bool('jit', False, 'XLA-compile the training step.')


def _check_flags():
  """Raises app.UsageError for flag values that cannot work."""
  if not FLAGS.family:
    raise app.UsageError(f'--family is required: one of '
                         f'{", ".join(_FAMILIES)}.')
  if not FLAGS.output:
    raise app.UsageError('--output is required: the path of the decoder, '
                         'e.g. --output=runs/vae.keras.')
  if not FLAGS.output.endswith('.keras'):
    raise app.UsageError(f'--output must end in .keras (a Keras 3 file), '
                         f'got {FLAGS.output!r}.')
  for name in ('code_size', 'epochs', 'batch_size', 'num_train'):
    if FLAGS[name].value < 1:
      raise app.UsageError(f'--{name} must be at least 1, got '
                           f'{FLAGS[name].value}.')
  if FLAGS.width is not None and FLAGS.width < 1:
    raise app.UsageError(f'--width must be at least 1, got {FLAGS.width}.')
  if FLAGS.samples_every < 0:
    raise app.UsageError('--samples_every must be 0 or more.')
  if FLAGS.batch_size > FLAGS.num_train:
    raise app.UsageError(f'--batch_size={FLAGS.batch_size} is larger than '
                         f'--num_train={FLAGS.num_train}.')
  if FLAGS.learning_rate is not None and not FLAGS.learning_rate > 0:
    raise app.UsageError('--learning_rate must be positive.')
  if FLAGS.gan_r1_penalty < 0:
    raise app.UsageError('--gan_r1_penalty must be 0 or more.')
  if not FLAGS.entropic_lambda > 0:
    raise app.UsageError('--entropic_lambda must be positive.')


def load_images():
  """The training images, float32 [N, H, W, C] in [0, 1].

  Raises:
    datasets.DatasetError, ValueError: data that cannot be used.
  """
  if FLAGS.dataset == _SYNTHETIC:
    import zoo  # pylint: disable=g-import-not-at-top
    return zoo.synthetic.synthetic_images(FLAGS.num_train,
                                          seed=_SYNTHETIC_DATA_SEED)
  images = datasets.load_dataset(FLAGS.dataset, FLAGS.num_train,
                                 split='train', data_dir=FLAGS.data_dir,
                                 tfds_data_dir=FLAGS.tfds_data_dir)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f'{FLAGS.dataset} holds data of per-example shape '
                     f'{images.shape[1:]}; apps.train needs images '
                     f'(height, width[, channels]).')
  low, high = float(images.min()), float(images.max())
  if low < 0.0 or high > 1.0:
    raise ValueError(f'{FLAGS.dataset} has values in [{low:g}, {high:g}]; '
                     f'the decoders output [0, 1], so scale the data to it.')
  return images


def training_config(model, image_shape):
  """The settings that define a run (and must match to resume it)."""
  import zoo  # pylint: disable=g-import-not-at-top
  architecture = zoo.architectures.resolve_architecture(FLAGS.architecture,
                                                        image_shape)
  config = {
      'family': FLAGS.family,
      'code_size': FLAGS.code_size,
      'architecture': architecture,
      'depth': FLAGS.depth if architecture == 'mlp' else None,
      'width': FLAGS.width or (
          zoo.architectures.DEFAULT_MLP_WIDTH if architecture == 'mlp'
          else zoo.architectures.DEFAULT_CONV_WIDTH),
      'dataset': FLAGS.dataset,
      'image_shape': list(image_shape),
      'num_train': FLAGS.num_train,
      'batch_size': FLAGS.batch_size,
      'seed': FLAGS.seed,
      'learning_rate': FLAGS.learning_rate,
      'hyperparameters': model.hyperparameters(),
      'optimizers': {
          name: {key: _plain(value) for key, value in
                 optimizer.get_config().items()
                 if key in ('name', 'learning_rate', 'beta_1', 'beta_2',
                            'rho', 'momentum', 'epsilon')}
          for name, optimizer in model.optimizers.items()},
  }
  return config


def _plain(value):
  """JSON-friendly copy of an optimizer config value."""
  if isinstance(value, (np.floating, float)):
    return float(value)
  if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
    return int(value)
  return value if isinstance(value, (str, bool, type(None))) else str(value)


def _stem():
  return FLAGS.output[:-len('.keras')]


def run():
  """Loads data, trains, exports; returns the metadata written."""
  start = time.time()
  # Imported here so that flag errors are reported before the seconds it
  # takes to import TensorFlow and Keras.
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import zoo  # pylint: disable=g-import-not-at-top

  outputs = output_files.OutputFiles(
      'train', os.path.dirname(os.path.abspath(FLAGS.output)),
      [os.path.basename(FLAGS.output), os.path.basename(_stem()) + '.json',
       os.path.basename(_stem()) + '_samples.png'],
      overwrite=FLAGS.overwrite, flag='--output')
  outputs.prepare()
  images = load_images()
  image_shape = tuple(int(d) for d in images.shape[1:])
  # Weights are drawn from Keras's global seed, everything else from
  # explicit seeds; op determinism makes the kernels reproducible too.
  keras.utils.set_random_seed(FLAGS.seed)
  tf.config.experimental.enable_op_determinism()
  model = zoo.build_model(
      FLAGS.family, image_shape, FLAGS.code_size,
      architecture=FLAGS.architecture, depth=FLAGS.depth, width=FLAGS.width,
      seed=FLAGS.seed, divergence=FLAGS.divergence,
      wae_penalty=FLAGS.wae_penalty,
      entropic_regularization=FLAGS.entropic_lambda,
      gan_r1_weight=FLAGS.gan_r1_penalty)
  model.compile(learning_rate=FLAGS.learning_rate)
  outputs.declare([f'{os.path.basename(_stem())}_{suffix}.keras'
                   for suffix in model.exported_models()])
  config = training_config(model, image_shape)
  trainer = zoo.training.Trainer(
      model, images, FLAGS.batch_size, seed=FLAGS.seed,
      checkpoint_dir=FLAGS.checkpoint_dir, config=config,
      checkpoint_interval_s=FLAGS.checkpoint_interval_s,
      log_interval_s=FLAGS.log_interval_s, jit_compile=FLAGS.jit)
  resumed = trainer.restore()
  epoch, step = trainer.position
  sys.stderr.write(
      f'train: {FLAGS.family} ({zoo.DESCRIPTIONS[FLAGS.family]}), code size '
      f'{FLAGS.code_size}, {config["architecture"]} '
      f'{config["depth"] or ""} width {config["width"]}; '
      f'{images.shape[0]} images {image_shape} of {FLAGS.dataset}, batch '
      f'{FLAGS.batch_size}, {trainer.steps_per_epoch} steps per epoch'
      + (f'; resumed from {FLAGS.checkpoint_dir} after {epoch} epochs and '
         f'{step} steps' if resumed else '')
      + '\n')
  samples_dir = FLAGS.samples_dir or _stem() + '_samples'
  # Grids of the epochs still to run; those of epochs a resumed run already
  # passed are its own.
  grids = [f'epoch_{done:03d}.png' for done in range(epoch + 1,
                                                     FLAGS.epochs + 1)
           if FLAGS.samples_every and done % FLAGS.samples_every == 0]
  if grids:
    output_files.OutputFiles('train', samples_dir, grids,
                             overwrite=FLAGS.overwrite,
                             flag='--samples_dir').prepare()

  def on_epoch_end(epoch_done, unused_logs):
    if FLAGS.samples_every and epoch_done % FLAGS.samples_every == 0:
      zoo.images.save_grid(
          os.path.join(samples_dir, f'epoch_{epoch_done:03d}.png'),
          model.sample(_NUM_SAMPLES, seed=FLAGS.seed))

  try:
    trainer.fit(FLAGS.epochs, on_epoch_end=on_epoch_end)
  except KeyboardInterrupt:
    if trainer.save():
      epoch, step = trainer.position
      sys.stderr.write(
          f'train: interrupted at epoch {epoch + 1}, step {step}; '
          f'checkpointed in {FLAGS.checkpoint_dir}: run the same command to '
          f'continue.\n')
    raise
  return export(model, config, trainer, outputs, time.time() - start)


def export(model, config, trainer, outputs, wall_time_s):
  """Saves the decoder, its samples, auxiliary models and metadata."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import zoo  # pylint: disable=g-import-not-at-top

  output = FLAGS.output
  directory = outputs.directory
  outputs.save_keras_model(os.path.basename(output), model.decoder)
  _check_reload(model.decoder, output)
  files = {'decoder': os.path.basename(output)}
  for suffix, extra in model.exported_models().items():
    name = f'{os.path.basename(_stem())}_{suffix}.keras'
    outputs.save_keras_model(name, extra)
    files[suffix] = name
  samples_path = zoo.images.save_grid(
      f'{_stem()}_samples.png', model.sample(_NUM_SAMPLES, seed=FLAGS.seed))
  files['samples'] = os.path.basename(samples_path)
  image_shape = list(model.image_shape)
  document = {
      'family': FLAGS.family,
      'description': zoo.DESCRIPTIONS[FLAGS.family],
      'latent_dim': model.latent_dim,
      'latent_prior': 'standard_normal',
      'input_shape': [None, model.latent_dim],
      'output_shape': image_shape,
      'layout': 'NHWC',
      'output_range': [0.0, 1.0],
      'num_parameters': int(model.decoder.count_params()),
      'architecture': {
          'kind': config['architecture'], 'depth': config['depth'],
          'width': config['width'],
          'hidden_layers': (zoo.architectures.num_hidden_layers(
              config['depth']) if config['architecture'] == 'mlp' else None),
      },
      'training_command': 'python -m apps.train ' + ' '.join(
          shlex.quote(arg) for arg in sys.argv[1:]),
      'training': dict(
          config, epochs=FLAGS.epochs, steps=int(model.train_steps.numpy()),
          wall_time_s=round(wall_time_s, 1),
          epoch_mean_losses=[
              {name: round(float(value), 6) for name, value in logs.items()}
              for logs in trainer.history]),
      'files': files,
      'rd_curve_command': f'python -m apps.rd_curve --model={output}',
      'software': {'tensorflow': tf.__version__, 'keras': keras.__version__,
                   'python': platform.python_version()},
  }
  document.update(model.export_metadata())
  if 'observation_scale' in document:
    document['rd_curve_command_nll'] = (
        f'python -m apps.rd_curve --model={output} '
        f'--distortion=gaussian_nll '
        f'--gaussian_scale={document["observation_scale"]:.6g}')
  zoo.metadata.write(output, document)
  sys.stderr.write(f'train: wrote {output}, {zoo.metadata.sidecar_path(output)}'
                   f', {samples_path}'
                   + ''.join(f', {os.path.join(directory, name)}'
                             for key, name in files.items()
                             if key not in ('decoder', 'samples'))
                   + f' in {wall_time_s:.0f} s\n')
  return document


def _check_reload(decoder, path):
  """Loads the saved decoder as apps.rd_curve will and compares outputs.

  Raises:
    ValueError: if the reloaded decoder computes something else.
  """
  import keras  # pylint: disable=g-import-not-at-top
  reloaded = keras.saving.load_model(path, compile=False)
  latents = np.random.default_rng(0).standard_normal(
      (4, decoder.inputs[0].shape[-1])).astype(np.float32)
  expected = np.asarray(decoder(latents, training=False))
  actual = np.asarray(reloaded(latents, training=False))
  if not np.allclose(expected, actual, atol=1e-5):
    raise ValueError(f'{path} does not reproduce the trained decoder '
                     f'(largest difference '
                     f'{np.abs(expected - actual).max():.3g}).')


def main(argv):
  _check_flags()
  # Imported here, after the flags are checked (it imports TensorFlow).
  from zoo import training  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'train', run,
      (datasets.DatasetError, training.TrainingCheckpointError,
       training.TrainingDivergedError, ValueError, OSError),
      interrupted_message=(
          'interrupted; the same command continues from the last checkpoint '
          'of --checkpoint_dir.' if FLAGS.checkpoint_dir else 'interrupted.'))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
