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
--epochs extends a finished one. The steps are `pipelines.training`'s, which
apps.reproduce trains its models with too.
"""

import shlex
import sys

from absl import app
from absl import flags

from apps import output_flags
from pipelines import jobs

FLAGS = flags.FLAGS

# zoo.FAMILIES, named here so that --help loads no TensorFlow
# (tests/test_train_app.py checks that they agree).
FAMILIES = ('vae', 'gan', 'aae', 'wae', 'wgan', 'wgan_gp', 'sngan', 'fgan',
            'entropic_gan')

flags.DEFINE_enum('family', None, FAMILIES, 'Model family.')
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
    "'mnist' (TFDS: offline from $TFRD_DATA_DIR or --data_dir, else downloaded "
    "once), 'synthetic32' (generated "
    "32×32×3 images), 'cifar10' (TFDS, if prepared) or 'npz:PATH' (images "
    "[N, H, W(, C)] in [0, 1] under key 'x').")
flags.DEFINE_integer('num_train', 10000,
                     'Training images (the first N of the train split).')
flags.DEFINE_integer('epochs', 10, 'Epochs (total, including resumed ones).')
flags.DEFINE_integer('batch_size', 64, 'Images per training step.')
flags.DEFINE_string('output', None, 'Path of the decoder, ending in .keras.')
output_flags.define_overwrite_flag()
# Listed in --help with the app's own flags.
flags.adopt_module_key_flags(output_flags)
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


def job_from_flags():
  """The `pipelines.training.TrainJob` the flags describe.

  Raises:
    app.UsageError: for flag values that cannot work, before any work.
  """
  if not FLAGS.family:
    raise app.UsageError(f'--family is required: one of '
                         f'{", ".join(FAMILIES)}.')
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
  # Imported once the flags are checked: it loads TensorFlow.
  from pipelines import training  # pylint: disable=g-import-not-at-top
  return training.TrainJob(
      recipe=training.ModelRecipe(
          family=FLAGS.family, code_size=FLAGS.code_size,
          architecture=FLAGS.architecture, depth=FLAGS.depth,
          width=FLAGS.width, divergence=FLAGS.divergence,
          wae_penalty=FLAGS.wae_penalty, gan_r1_penalty=FLAGS.gan_r1_penalty,
          entropic_lambda=FLAGS.entropic_lambda,
          learning_rate=FLAGS.learning_rate),
      data=training.TrainingData(
          dataset=FLAGS.dataset, num_train=FLAGS.num_train,
          data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir),
      training=training.TrainingSettings(
          epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
          checkpoint_dir=FLAGS.checkpoint_dir,
          checkpoint_interval_s=FLAGS.checkpoint_interval_s,
          log_interval_s=FLAGS.log_interval_s, jit_compile=FLAGS.jit),
      export=training.ExportSettings(
          output=FLAGS.output, overwrite=FLAGS.overwrite,
          samples_every=FLAGS.samples_every, samples_dir=FLAGS.samples_dir,
          command='python -m apps.train ' + ' '.join(
              shlex.quote(arg) for arg in sys.argv[1:])))


def main(argv):
  del argv  # jobs.run refused stray arguments.
  job = job_from_flags()
  from pipelines import training  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'train', lambda: training.train_and_export(job),
      training.EXPECTED_ERRORS,
      interrupted_message=(
          'interrupted; the same command continues from the last checkpoint '
          'of --checkpoint_dir.' if job.training.checkpoint_dir
          else 'interrupted.'))


def console_main():
  jobs.run(main)


if __name__ == '__main__':
  jobs.run(main)
