"""Training a zoo model and exporting its decoder: each step once.

Why a module: `apps.train` trains one model from its flags, `apps.reproduce`
(`pipelines.reproduce`) trains the models of the paper's figures, and users'
scripts train their own. A decoder is a function of its seed only if every
one of them takes the same steps in the same order (seed Keras, make the
kernels deterministic, build, compile, visit the images in the trainer's
order), so the steps live here and nowhere else:

    load_training_images ─> build_model ─> make_trainer ─> restore, fit
        ─> model_metadata (a record of what was trained)
        └> export (apps.train's files: decoder, metadata, samples)

`train_and_export(job)` is `apps.train`. Nothing here reads flags; the
settings are the values below.
"""

import dataclasses
import json
import os
import platform
import sys
import time

import numpy as np

from adapters import datasets
from pipelines import jobs
from pipelines import output_files
import tfrd
import zoo

__all__ = ['ModelRecipe', 'TrainingData', 'TrainingSettings',
           'ExportSettings', 'TrainJob', 'EXPECTED_ERRORS', 'SYNTHETIC',
           'load_training_images', 'build_model', 'training_config',
           'make_trainer', 'epoch_mean_losses', 'model_metadata', 'export',
           'train_and_export']

# The dataset of generated 32×32×3 images (`zoo.synthetic`).
SYNTHETIC = 'synthetic32'
# Seed of the synthetic images: fixed, so that runs with different seeds
# train on the same data.
_SYNTHETIC_DATA_SEED = 0
# Samples in each grid.
_NUM_SAMPLES = 64

# Errors that mean bad input or a failed training rather than a bug (one
# line, exit status 2 in apps.train).
EXPECTED_ERRORS = (datasets.DatasetError, zoo.training.TrainingCheckpointError,
                   zoo.training.TrainingDivergedError, ValueError, OSError)


@dataclasses.dataclass(frozen=True)
class ModelRecipe:
  """What to build: a zoo family, its networks and its optimizers.

  Attributes:
    family: one of `zoo.FAMILIES`.
    code_size: the latent size D (prior N(0, I)).
    architecture: 'auto' (DCGAN networks for 32×32×3 images, MLPs
      otherwise), 'mlp' or 'dcgan'.
    depth: MLP depth, 'shallow' or 'deep' (appendix D.1).
    width: hidden units (MLP) or base filters (DCGAN); None for the
      architecture's default.
    divergence: the f-divergence of 'fgan'.
    wae_penalty: the code penalty of 'wae', 'mmd' or 'gan'.
    gan_r1_penalty: γ of the R1 penalty of 'gan' (0: none).
    entropic_lambda: the entropy weight λ of 'entropic_gan'.
    learning_rate: replaces every learning rate of the family's recipe
      (None: the recipe's).
  """
  family: str
  code_size: int = 10
  architecture: str = 'auto'
  depth: str = 'shallow'
  width: int = None
  divergence: str = 'js'
  wae_penalty: str = 'mmd'
  gan_r1_penalty: float = 0.0
  entropic_lambda: float = 0.1
  learning_rate: float = None


@dataclasses.dataclass(frozen=True)
class TrainingData:
  """The training images: the first `num_train` of a dataset's train split.

  Attributes:
    dataset: 'mnist', 'cifar10', 'npz:PATH' (`adapters.datasets`) or
      `SYNTHETIC`.
    num_train: how many images.
    data_dir: a directory holding mnist/ (None: $TFRD_DATA_DIR).
    tfds_data_dir: TFDS's data directory (None: TFDS's default).
  """
  dataset: str = 'mnist'
  num_train: int = 10000
  data_dir: str = None
  tfds_data_dir: str = None


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
  """How to train (`zoo.training.Trainer`).

  Attributes:
    epochs: epochs in total, including those a resumed run already did.
    batch_size: images per step.
    seed: seed of the weights, the noise and the order of the images.
    checkpoint_dir: None, or where the training state is checkpointed and
      resumed from.
    checkpoint_interval_s: least seconds between mid-epoch checkpoints.
    log_interval_s: least seconds between progress lines within an epoch.
    jit_compile: XLA-compile the training step.
  """
  epochs: int = 10
  batch_size: int = 64
  seed: int = 0
  checkpoint_dir: str = None
  checkpoint_interval_s: float = 120.0
  log_interval_s: float = 10.0
  jit_compile: bool = False


@dataclasses.dataclass(frozen=True)
class ExportSettings:
  """Where `export` writes the decoder and what it records.

  Attributes:
    output: the decoder's path, ending in .keras; its metadata, samples and
      auxiliary models go beside it (OUTPUT stem + .json, _samples.png,
      _SUFFIX.keras).
    overwrite: replace files of those names.
    samples_every: write a grid of samples every N epochs (0: only the
      final one).
    samples_dir: the folder of the per-epoch grids (None: OUTPUT stem +
      _samples/).
    command: the command line recorded as the metadata's
      `training_command` (None: none recorded).
  """
  output: str
  overwrite: bool = False
  samples_every: int = 1
  samples_dir: str = None
  command: str = None

  @property
  def stem(self):
    """The output path without .keras."""
    return self.output[:-len('.keras')]


@dataclasses.dataclass(frozen=True)
class TrainJob:
  """Everything `train_and_export` needs."""
  recipe: ModelRecipe
  data: TrainingData
  training: TrainingSettings
  export: ExportSettings


def load_training_images(data):
  """The training images of `data`, float32 [N, H, W, C] in [0, 1].

  Raises:
    datasets.DatasetError, ValueError: data that cannot be used.
  """
  if data.dataset == SYNTHETIC:
    return zoo.synthetic.synthetic_images(data.num_train,
                                          seed=_SYNTHETIC_DATA_SEED)
  images = datasets.load_dataset(data.dataset, data.num_train, split='train',
                                 data_dir=data.data_dir,
                                 tfds_data_dir=data.tfds_data_dir)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f'{data.dataset} holds data of per-example shape '
                     f'{images.shape[1:]}; apps.train needs images '
                     f'(height, width[, channels]).')
  low, high = float(images.min()), float(images.max())
  if low < 0.0 or high > 1.0:
    raise ValueError(f'{data.dataset} has values in [{low:g}, {high:g}]; '
                     f'the decoders output [0, 1], so scale the data to it.')
  return images


def build_model(recipe, image_shape, seed):
  """The compiled model of `recipe`, its weights a function of `seed`.

  Seeds Keras (the weights are drawn from its global seed, everything else
  from explicit seeds) and turns on TensorFlow's op determinism, so that the
  kernels are reproducible too: call it right before training.

  Args:
    recipe: a `ModelRecipe`.
    image_shape: (H, W, C) of the training images.
    seed: the training's seed.

  Returns:
    A compiled `zoo.base.GenerativeModel`.

  Raises:
    ValueError: for settings the family cannot build.
  """
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  tf.config.experimental.enable_op_determinism()
  model = zoo.build_model(
      recipe.family, image_shape, recipe.code_size,
      zoo.Networks(recipe.architecture, recipe.depth, recipe.width),
      seed=seed, divergence=recipe.divergence,
      wae_penalty=recipe.wae_penalty,
      entropic_regularization=recipe.entropic_lambda,
      gan_r1_weight=recipe.gan_r1_penalty)
  model.compile(learning_rate=recipe.learning_rate)
  return model


def training_config(recipe, data, training, model):
  """apps.train's record of a run: what must match to resume its checkpoint,
  and the metadata's `training` entry.

  Args:
    recipe, data, training: the run's settings.
    model: the model `build_model` built (its hyperparameters and
      optimizers are recorded).

  Returns:
    A JSON-serializable dict. (Its optimizers' names are the ones Keras
    gives them, numbered within a process: adam, adam_1, ... A process that
    built other optimizers first records other names, and its checkpoint
    is refused by a fresh process, and the reverse.)
  """
  image_shape = tuple(model.image_shape)
  architecture = zoo.architectures.resolve_architecture(recipe.architecture,
                                                        image_shape)
  return {
      'family': recipe.family,
      'code_size': recipe.code_size,
      'architecture': architecture,
      'depth': recipe.depth if architecture == 'mlp' else None,
      'width': recipe.width or (
          zoo.architectures.DEFAULT_MLP_WIDTH if architecture == 'mlp'
          else zoo.architectures.DEFAULT_CONV_WIDTH),
      'dataset': data.dataset,
      'image_shape': list(image_shape),
      'num_train': data.num_train,
      'batch_size': training.batch_size,
      'seed': training.seed,
      'learning_rate': recipe.learning_rate,
      'hyperparameters': model.hyperparameters(),
      'optimizers': {
          name: {key: _plain(value) for key, value in
                 optimizer.get_config().items()
                 if key in ('name', 'learning_rate', 'beta_1', 'beta_2',
                            'rho', 'momentum', 'epsilon')}
          for name, optimizer in model.optimizers.items()},
  }


def _plain(value):
  """JSON-friendly copy of an optimizer config value."""
  if isinstance(value, (np.floating, float)):
    return float(value)
  if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
    return int(value)
  return value if isinstance(value, (str, bool, type(None))) else str(value)


def make_trainer(model, images, training, config):
  """The `zoo.training.Trainer` of `model` on `images`.

  Call `restore()` on it to resume its checkpoint (if `training` names a
  checkpoint directory), then `fit(training.epochs)`.

  Args:
    model: the compiled model (`build_model`).
    images: float32 [N, H, W, C] in [0, 1].
    training: `TrainingSettings`.
    config: JSON-serializable dict; a checkpoint is resumed only by the
      same config (`training_config` for apps.train).

  Raises:
    ValueError: for a batch larger than the data.
  """
  return zoo.training.Trainer(
      model, images, training.batch_size, seed=training.seed,
      checkpoint_dir=training.checkpoint_dir, config=config,
      checkpoint_interval_s=training.checkpoint_interval_s,
      log_interval_s=training.log_interval_s,
      jit_compile=training.jit_compile)


def epoch_mean_losses(trainer):
  """The mean losses of every epoch the trainer ran, rounded for JSON."""
  return [{name: round(float(value), 6) for name, value in logs.items()}
          for logs in trainer.history]


def model_metadata(recipe, model, trainer):
  """What was trained, for a record beside the decoder (apps.reproduce's).

  Args:
    recipe: the `ModelRecipe` the model was built from.
    model: the trained model.
    trainer: its `zoo.training.Trainer`.

  Returns:
    A JSON-serializable dict: description, hyperparameters, the optimizer
    recipe with its sources (`recipe`; a replaced learning rate shows in the
    training config, not here), steps,
    epoch_mean_losses and the family's own entries
    (`export_metadata()`, e.g. the VAE's observation scale).
  """
  metadata = {'description': zoo.DESCRIPTIONS[recipe.family],
              'hyperparameters': model.hyperparameters(),
              'recipe': model.recipe_record(),
              'steps': int(model.train_steps.numpy()),
              'epoch_mean_losses': epoch_mean_losses(trainer),
              **model.export_metadata()}
  # NumPy and TensorFlow scalars in the family's entries become floats.
  return json.loads(json.dumps(metadata, default=float))


def train_and_export(job):
  """apps.train: loads the data, trains (resuming a checkpoint), exports.

  Writes the files `export` lists, and every `samples_every` epochs a grid
  of samples into the samples folder. Progress goes to stderr.

  Args:
    job: a `TrainJob`.

  Returns:
    The metadata document written (`zoo.metadata.read` reads it back).

  Raises:
    One of `EXPECTED_ERRORS` for bad input; `tfrd.RunInterrupted` when
    stopped by `jobs.stop_event()` (SIGTERM or Ctrl-C) and
    KeyboardInterrupt on a second signal, each after a checkpoint if there
    is a checkpoint directory.
  """
  start = time.time()
  export_settings, training = job.export, job.training
  stem = os.path.basename(export_settings.stem)
  outputs = output_files.OutputFiles(
      'train', os.path.dirname(os.path.abspath(export_settings.output)),
      [os.path.basename(export_settings.output), stem + '.json',
       stem + '_samples.png'],
      overwrite=export_settings.overwrite, flag='--output')
  outputs.prepare()
  images = load_training_images(job.data)
  image_shape = tuple(int(d) for d in images.shape[1:])
  model = build_model(job.recipe, image_shape, training.seed)
  outputs.declare([f'{stem}_{suffix}.keras'
                   for suffix in model.exported_models()])
  config = training_config(job.recipe, job.data, training, model)
  trainer = make_trainer(model, images, training, config)
  resumed = trainer.restore()
  epoch, step = trainer.position
  recipe = job.recipe
  sys.stderr.write(
      f'train: {recipe.family} ({zoo.DESCRIPTIONS[recipe.family]}), code '
      f'size {recipe.code_size}, {config["architecture"]} '
      f'{config["depth"] or ""} width {config["width"]}; '
      f'{images.shape[0]} images {image_shape} of {job.data.dataset}, batch '
      f'{training.batch_size}, {trainer.steps_per_epoch} steps per epoch'
      + (f'; resumed from {training.checkpoint_dir} after {epoch} epochs '
         f'and {step} steps' if resumed else '')
      + '\n')
  on_epoch_end = _sample_grids(model, export_settings, training, epoch)
  try:
    trainer.fit(training.epochs, on_epoch_end=on_epoch_end,
                stop=jobs.stop_event())
  except (KeyboardInterrupt, tfrd.RunInterrupted) as interruption:
    if getattr(interruption, 'checkpoint_path', None) or trainer.save():
      epoch, step = trainer.position
      sys.stderr.write(
          f'train: interrupted at epoch {epoch + 1}, step {step}; '
          f'checkpointed in {training.checkpoint_dir}: run the same command '
          f'to continue.\n')
    raise
  return export(model, trainer, config, job, outputs, time.time() - start)


def _sample_grids(model, export_settings, training, epochs_done):
  """The `on_epoch_end` that writes the per-epoch sample grids.

  The grids of the epochs still to run are refused before any training if
  they exist (unless overwrite); those of epochs a resumed run already
  passed are its own.
  """
  every = export_settings.samples_every
  samples_dir = export_settings.samples_dir or (
      export_settings.stem + '_samples')
  grids = [f'epoch_{done:03d}.png'
           for done in range(epochs_done + 1, training.epochs + 1)
           if every and done % every == 0]
  if grids:
    output_files.OutputFiles('train', samples_dir, grids,
                             overwrite=export_settings.overwrite,
                             flag='--samples_dir').prepare()

  def on_epoch_end(epoch_done, unused_logs):
    if every and epoch_done % every == 0:
      zoo.images.save_grid(
          os.path.join(samples_dir, f'epoch_{epoch_done:03d}.png'),
          model.sample(_NUM_SAMPLES, seed=training.seed))
  return on_epoch_end


def export(model, trainer, config, job, outputs, wall_time_s):
  """Saves the decoder, its samples, auxiliary models and metadata.

  The decoder is reloaded as apps.rd_curve will load it and checked to
  compute what the trained one does.

  Args:
    model: the trained model.
    trainer: its `zoo.training.Trainer` (for the losses).
    config: its `training_config`.
    job: the `TrainJob`.
    outputs: the `output_files.OutputFiles` of the run, prepared.
    wall_time_s: the seconds the run took, recorded.

  Returns:
    The metadata document written (`zoo.metadata.write`).

  Raises:
    ValueError: if the saved decoder does not reproduce the trained one.
  """
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  output = job.export.output
  stem = job.export.stem
  outputs.save_keras_model(os.path.basename(output), model.decoder)
  _check_reload(model.decoder, output)
  written = {'decoder': os.path.basename(output)}
  for suffix, extra in model.exported_models().items():
    name = f'{os.path.basename(stem)}_{suffix}.keras'
    outputs.save_keras_model(name, extra)
    written[suffix] = name
  samples_path = zoo.images.save_grid(
      f'{stem}_samples.png',
      model.sample(_NUM_SAMPLES, seed=job.training.seed))
  written['samples'] = os.path.basename(samples_path)
  document = {
      'family': job.recipe.family,
      'description': zoo.DESCRIPTIONS[job.recipe.family],
      'latent_dim': model.latent_dim,
      'latent_prior': 'standard_normal',
      'input_shape': [None, model.latent_dim],
      'output_shape': list(model.image_shape),
      'layout': 'NHWC',
      'output_range': [0.0, 1.0],
      'num_parameters': int(model.decoder.count_params()),
      'architecture': {
          'kind': config['architecture'], 'depth': config['depth'],
          'width': config['width'],
          'hidden_layers': (zoo.architectures.num_hidden_layers(
              config['depth']) if config['architecture'] == 'mlp' else None),
      },
      'training_command': job.export.command,
      'training': dict(
          config, epochs=job.training.epochs,
          steps=int(model.train_steps.numpy()),
          wall_time_s=round(wall_time_s, 1),
          epoch_mean_losses=epoch_mean_losses(trainer)),
      # The optimizers and their sources (the resume config above holds
      # the optimizers as built; the sources are only recorded).
      'recipe': model.recipe_record(),
      'files': written,
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
  sys.stderr.write(
      f'train: wrote {output}, {zoo.metadata.sidecar_path(output)}, '
      f'{samples_path}'
      + ''.join(f', {os.path.join(outputs.directory, name)}'
                for key, name in written.items()
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
