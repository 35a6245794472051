"""What one curve run is, as values: the settings of `pipelines.curve_run`.

Why values: the apps turn their flags into these (`*_from_flags`),
`apps.reproduce`, the benchmarks and users' scripts build them directly, and
all of them call the same pipeline functions with them. tfrd's own settings
(`tfrd.ScheduleSettings`, `tfrd.ChainSettings`, `tfrd.HMCSettings`) say
what the estimator computes; these add where the model and the data come
from and where the results go.

This module imports no TensorFlow (nor does `tfrd.settings`): the apps
define their flags' defaults from it before TensorFlow loads, so that
`--help` answers at once. The defaults here and in tfrd are the ones the
apps show.
"""

import dataclasses

from tfrd import settings as tfrd_settings

__all__ = ['PRESETS', 'STRATEGIES', 'ENTROPIC_GAN_CHAINS', 'ModelSettings', 'DistortionSettings',
           'DataSettings', 'OutputSettings', 'CurveJob',
           'BDMCJob', 'preset']

# The settings users ask for by name (--preset); explicit flags win. Keys are
# the apps' flag names.
PRESETS = {
    # A curve in about a minute on a laptop CPU: the demonstration settings.
    # Its check states the gaps without a target: a verdict needs at least
    # 4 simulated images, and then again 4 fresh ones, which would cost a
    # quick look of 10 images twice its curve (--target_gap=1 asks for it).
    'quick': {'num_images': 10, 'num_chains': 8, 'num_intermediate': 5000,
              'num_rd_points': 20, 'min_before_first': 500,
              'step_size_mode': 'adaptive', 'target_gap': 'none'},
    # tfrd's defaults (tfrd.ScheduleSettings, tfrd.ChainSettings): 5000
    # geometric distributions of L = 2, where the accuracy search starts
    # (docs/accuracy.md).
    'default': {},
    # Appendix D.2 for the 2-, 5- and 10-dimensional MNIST models: Wu et
    # al.'s sigmoid base of N = 40,000 with the >= 800 / >= 10 fills, 1999
    # RD points linear on each side of beta = 1 up to 1 / 0.0002770224
    # (= 3609.8; D.2's "≈ 36098" misplaces the decimal point),
    # L = 20, 40 chains, 50 images, a preliminary and a formal run. About
    # 25x the decoder gradients per chain of 'default'. (For 100-dimensional
    # codes the paper used N = 1,600,000 and beta_max = 1 / 0.0003: add
    # --num_intermediate=1600000 --beta_max=3333.33.)
    'paper': {'schedule': 'paper', 'num_intermediate': 40000,
              'rd_spacing': 'paper', 'num_rd_points': 1999,
              'beta_max': 1.0 / 0.0002770224, 'beta_min': 1.0 / 12.0,
              'min_before_first': 800, 'min_between': 10,
              'leapfrog_steps': 20, 'num_chains': 40, 'num_images': 50,
              'step_size_mode': 'two_pass', 'target_accept': 0.65},
}

# How a run may spread over devices (pipelines.devices.make_strategy).
STRATEGIES = ('none', 'mirrored', 'multi_worker')

# apps.entropic_gan's AIS chains (pipelines.entropic_gan): its short
# schedule to β = 1/λ wants longer trajectories than the curves' L = 2.
ENTROPIC_GAN_CHAINS = tfrd_settings.ChainSettings(
    num_chains=16, seed=0,
    hmc=tfrd_settings.HMCSettings(num_leapfrog_steps=10,
                                  step_size_mode='adaptive'))

_SCHEDULE_KEYS = {'schedule': 'kind', 'num_intermediate': 'num_intermediate',
                  'num_rd_points': 'num_rd_points', 'beta_min': 'beta_min',
                  'beta_max': 'beta_max', 'rd_spacing': 'rd_spacing',
                  'min_before_first': 'min_before_first',
                  'min_between': 'min_between'}
_HMC_KEYS = {'leapfrog_steps': 'num_leapfrog_steps',
             'step_size_mode': 'step_size_mode',
             'target_accept': 'target_accept_prob'}


def preset(name):
  """The schedule and chains of preset `name`, as tfrd settings values.

  Returns:
    (tfrd.ScheduleSettings, tfrd.ChainSettings, number of images or None):
    tfrd's defaults with the preset's entries in their place.

  Raises:
    KeyError: for an unknown name.
  """
  entries = PRESETS[name]
  schedule = tfrd_settings.ScheduleSettings(**{
      field: entries[key] for key, field in _SCHEDULE_KEYS.items()
      if key in entries})
  hmc = tfrd_settings.HMCSettings(**{
      field: entries[key] for key, field in _HMC_KEYS.items()
      if key in entries})
  chains = tfrd_settings.ChainSettings(
      num_chains=entries.get('num_chains', 16), hmc=hmc)
  return schedule, chains, entries.get('num_images')


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """The decoder and its prior, as a user names them.

  Attributes:
    path: a Keras 3 .keras file, a tf_keras SavedModel directory or .h5
      file, a TF SavedModel directory, or py:package.module:attribute.
    model_format: 'auto' (from the path), 'keras3', 'tf_keras',
      'saved_model' or 'python'.
    signature: a TF SavedModel's signature, or attr:NAME.
    latent_dim: the code size, for decoders that do not declare it.
    output_layout, output_range, output_kind, output_image_shape: how the
      decoder's output relates to the data (`adapters.conventions`).
    prior: 'normal', 'mixture:ALPHA[:VARIANCE]' or py:module:attribute
      (`adapters.priors.prior_from_spec`).
    blur_sigma, blur_padding: a Gaussian blur of the output (§6.2; 0 = off).
    import_modules, custom_objects, unsafe_deserialization: how Keras
      loads the user's own layers (`adapters.models.load_decoder`).
    precision: 'float32', 'tf32', 'bfloat16' (`adapters.precision`).
    device: None (TensorFlow's placement) or a device such as '/GPU:0'.
  """
  path: str
  model_format: str = 'auto'
  signature: str = None
  latent_dim: int = None
  output_layout: str = 'nhwc'
  output_range: str = '0_1'
  output_kind: str = 'image'
  output_image_shape: tuple = None
  prior: str = 'normal'
  blur_sigma: float = 0.0
  blur_padding: str = 'reflect'
  import_modules: tuple = ()
  custom_objects: str = None
  unsafe_deserialization: bool = False
  precision: str = 'float32'
  device: str = None


@dataclasses.dataclass(frozen=True)
class DistortionSettings:
  """d(x, f(z)), summed over data dimensions.

  Attributes:
    name: 'mse', 'gaussian_nll', 'bernoulli_nll', 'ssim' or 'features'.
    gaussian_scale: the Gaussian NLL's standard deviation (a number as a
      string), or 'decoder' for the decoder's own variance.
    bernoulli_from_logits: the decoder returns logits.
    feature_model: with 'features', a Keras 3 .keras model of the features.
  """
  name: str = 'mse'
  gaussian_scale: str = '1.0'
  bernoulli_from_logits: bool = False
  feature_model: str = None


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """The images a curve is estimated on.

  Attributes:
    dataset: 'mnist', 'cifar10' or 'npz:PATH' (`adapters.datasets`).
    split: the split of mnist / cifar10.
    num_images: the first N images from `image_offset`.
    image_offset: the index of the first image.
    data_dir: a directory holding mnist/ with the four original files, to
      prepare TFDS offline (None: $TFRD_DATA_DIR, else TFDS's own source).
    tfds_data_dir: TFDS's data directory (None: TFDS's default).
    image_shape: (height, width, channels) of flat data, for image grids.
  """
  dataset: str = 'mnist'
  split: str = 'test'
  num_images: int = 20
  image_offset: int = 0
  data_dir: str = None
  tfds_data_dir: str = None
  image_shape: tuple = None


@dataclasses.dataclass(frozen=True)
class OutputSettings:
  """Where a run's results and checkpoints go (rules: pipelines.output_files).

  Attributes:
    output_dir: the directory of curve.json, curve.csv, curve.npz,
      curve.png and step_sizes.npz.
    checkpoint_dir: the chain state's checkpoints (None:
      OUTPUT_DIR/checkpoint).
    resume: continue the checkpointed run.
    overwrite: replace result files of the same names.
    checkpoint_interval_s: least seconds between checkpoints.
    step_sizes: a step_sizes.npz of an earlier run to replay frozen.
    save_reconstructions: also write reconstructions.png.
    reconstruction_betas: the betas it shows (None: lowest, 1, highest).
  """
  output_dir: str = 'rd_curve_output'
  checkpoint_dir: str = None
  resume: bool = False
  overwrite: bool = False
  checkpoint_interval_s: float = 60.0
  step_sizes: str = None
  save_reconstructions: bool = False
  reconstruction_betas: tuple = None


@dataclasses.dataclass(frozen=True)
class CurveJob:
  """One run of `pipelines.curve_run.run_curve`: everything it needs.

  Attributes:
    model: `ModelSettings`.
    data: `DataSettings`.
    distortion: `DistortionSettings`.
    schedule: `tfrd.ScheduleSettings`.
    chains: `tfrd.ChainSettings`.
    outputs: `OutputSettings`.
    accuracy: `tfrd.AccuracySettings`: the BDMC check of the curve and the
      gap its schedule is lengthened to meet (on by default; `betas=()`
      turns both off).
    strategy: 'none', 'mirrored' or 'multi_worker' (`tf.distribute`).
    cpu_devices: with 'mirrored', split the CPU into this many devices.
    preset: the preset the settings came from, for the record.
  """
  model: ModelSettings
  data: DataSettings = DataSettings()
  distortion: DistortionSettings = DistortionSettings()
  schedule: tfrd_settings.ScheduleSettings = tfrd_settings.ScheduleSettings()
  chains: tfrd_settings.ChainSettings = tfrd_settings.ChainSettings()
  outputs: OutputSettings = OutputSettings()
  accuracy: tfrd_settings.AccuracySettings = tfrd_settings.AccuracySettings()
  strategy: str = 'none'
  cpu_devices: int = 0
  preset: str = None


@dataclasses.dataclass(frozen=True)
class BDMCJob:
  """One run of `pipelines.bdmc_points.run_bdmc_job` (`apps.bdmc`).

  Attributes:
    model: `ModelSettings`.
    distortion: `DistortionSettings`.
    schedule: the `tfrd.ScheduleSettings` of the curve run whose accuracy
      is measured; the points are added to its RD points.
    chains: `tfrd.ChainSettings`.
    betas: the points (None: the lowest RD beta, 1 and the highest; only 1
      for Bernoulli NLL).
    num_images: images simulated at each point.
    output_dir: the directory of bdmc.json, bdmc.png and simulated.npz.
    overwrite: replace result files of the same names.
  """
  model: ModelSettings
  distortion: DistortionSettings = DistortionSettings()
  schedule: tfrd_settings.ScheduleSettings = tfrd_settings.ScheduleSettings()
  chains: tfrd_settings.ChainSettings = tfrd_settings.ChainSettings()
  betas: tuple = None
  num_images: int = 10
  output_dir: str = 'bdmc_output'
  overwrite: bool = False
