"""The deep decoders of tfrd's accuracy benchmarks, and their curve jobs.

`benchmarks.deep_accuracy` (the schedule search and the verdict on each)
and `benchmarks.schedule_study` (schedules compared on one) train these
decoders the same way, once, into their --output_dir, and run them with
the same job: here, without flags, so that both programs define their own.
The decoders are described in `benchmarks.deep_accuracy`'s docstring.
"""

import dataclasses
import os

import numpy as np

from pipelines import settings as pipeline_settings

DECODERS = ('gan10', 'vae10', 'mlp64', 'wgan128', 'dcgan100')


@dataclasses.dataclass(frozen=True)
class Settings:
  """What one run of a deep-decoder benchmark trains and checks.

  Attributes:
    output_dir: where the results and the trained models go.
    decoders: names of `DECODERS`.
    data_dir: MNIST's raw files (None: $TFRD_DATA_DIR).
    quick: tiny models and schedules (a smoke test of the benchmark).
    mass_matrix: the chains' `tfrd.HMCSettings.mass_matrix`.
    num_intermediate: None (tfrd's default schedule), or the base schedule
      the search starts from, with fills scaled to it.
    check_images: simulated images per BDMC measurement (None: as many
      as the app affords, 4 with `quick`).
    adapt_schedule: whether the search re-spaces its schedules by
      thermodynamic length (`tfrd.AccuracySettings.adapt_schedule`).
  """
  output_dir: str
  decoders: tuple = DECODERS
  data_dir: str = None
  quick: bool = False
  mass_matrix: str = 'hessian'
  num_intermediate: int = None
  check_images: int = None
  adapt_schedule: bool = True

  @property
  def variant(self):
    """A file-name suffix naming the kernel and schedule ('' for plain HMC
    from the default geometric schedule, the files written before the
    Hessian; '_hessian' for the Hessian on it, before the adapted
    schedule)."""
    parts = ([] if self.mass_matrix == 'identity' else [self.mass_matrix]) + (
        ['thermodynamic'] if self.adapt_schedule else []) + (
            [] if self.num_intermediate is None else
            [str(self.num_intermediate)])
    return ''.join('_' + part for part in parts)


def _padded_mnist(settings, split, count):
  """MNIST images [count, 32, 32, 1], zero-padded, as an npz dataset path."""
  from adapters import datasets  # pylint: disable=g-import-not-at-top
  path = os.path.join(settings.output_dir, f'mnist32_{split}.npz')
  if not os.path.exists(path):
    images = datasets.load_dataset('mnist', count, split=split,
                                   data_dir=settings.data_dir)
    images = images.reshape(-1, 28, 28, 1)
    os.makedirs(settings.output_dir, exist_ok=True)
    np.savez(path, x=np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))))
  return path


def _trained(settings, name, recipe, dataset):
  """The decoder `recipe` trained as the module docstring says (reused
  when an earlier run left it)."""
  from pipelines import training  # pylint: disable=g-import-not-at-top
  output = os.path.join(settings.output_dir, f'{name}.keras')
  if os.path.exists(output):
    return output
  training.train_and_export(training.TrainJob(
      recipe=recipe,
      data=training.TrainingData(
          dataset=dataset, num_train=256 if settings.quick else 10000,
          data_dir=settings.data_dir),
      training=training.TrainingSettings(epochs=1 if settings.quick else 3,
                                         log_interval_s=60.0),
      export=training.ExportSettings(output=output, samples_every=0)))
  return output


def decoder_path(settings, name):
  """The .keras file of decoder `name`, training it first if needed."""
  from pipelines import training  # pylint: disable=g-import-not-at-top
  from zoo import pretrained  # pylint: disable=g-import-not-at-top
  if name in ('gan10', 'vae10'):
    return pretrained.path(f'mnist_{name[:3]}_shallow_10')
  width = 8 if settings.quick else None
  if name == 'mlp64':
    return _trained(settings, name, training.ModelRecipe(
        family='vae', code_size=64, depth='deep', width=width or 256),
                    'mnist')
  if name == 'wgan128':
    return _trained(settings, name, training.ModelRecipe(
        family='wgan_gp', code_size=128, depth='deep', width=width or 256),
                    'mnist')
  return _trained(settings, name, training.ModelRecipe(
      family='vae', code_size=100, architecture='dcgan', width=width or 8),
                  'npz:' + _padded_mnist(settings, 'train',
                                         256 if settings.quick else 10000))


def curve_job(settings, name, path):
  """The `CurveJob` of `apps.rd_curve --model=PATH` with every default (a
  tiny schedule with --quick; graph mode for the convolutional decoder on a
  CPU, which changes only the time; MNIST padded to 32×32 for it)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfrd  # pylint: disable=g-import-not-at-top
  schedule = tfrd.ScheduleSettings()
  if settings.num_intermediate is not None:
    size = settings.num_intermediate
    schedule = tfrd.ScheduleSettings(num_intermediate=size,
                                     min_before_first=size // 5,
                                     min_between=max(2, size // 2000))
  chains = tfrd.ChainSettings(
      hmc=tfrd.HMCSettings(mass_matrix=settings.mass_matrix))
  if name == 'dcgan100' and not tf.config.list_physical_devices('GPU'):
    chains = chains._replace(jit_compile=False)
  if settings.quick:
    schedule = tfrd.ScheduleSettings(num_intermediate=60, num_rd_points=4,
                                     beta_max=10.0, min_before_first=20,
                                     min_between=3)
    chains = chains._replace(num_chains=4, jit_compile=False)
  data = pipeline_settings.DataSettings(data_dir=settings.data_dir)
  if name == 'dcgan100':
    data = data._replace(dataset='npz:' + _padded_mnist(
        settings, 'test', data.num_images))
  return pipeline_settings.CurveJob(
      model=pipeline_settings.ModelSettings(path=path), data=data,
      schedule=schedule, chains=chains, accuracy=tfrd.AccuracySettings(
          max_num_intermediate=240 if settings.quick else 320000,
          num_images=settings.check_images,
          adapt_schedule=settings.adapt_schedule))
