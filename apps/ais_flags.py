"""Flags shared by the apps that run AIS, and the schedule they describe."""

from absl import flags

import tfrd

__all__ = ['define_ais_flags', 'PRESETS', 'apply_preset',
           'check_flags', 'schedule_from_flags', 'distortion_from_flags',
           'hmc_settings_from_flags', 'ais_kwargs_from_flags']

FLAGS = flags.FLAGS

# The settings users ask for by name (--preset); flags given explicitly win.
PRESETS = {
    # A curve in about a minute on a laptop CPU: the demonstration settings.
    'quick': {'num_images': 10, 'num_chains': 8, 'num_intermediate': 5000,
              'num_rd_points': 20, 'min_before_first': 500,
              'step_size_mode': 'adaptive'},
    # tfrd's defaults: the decoder gradients of L = 10 on 4000 distributions,
    # spent as L = 2 on 20000 (README, accuracy study).
    'default': {},
    # Appendix D.2 for the 2-, 5- and 10-dimensional MNIST models: Wu et
    # al.'s sigmoid base of N = 40,000 with the >= 800 / >= 10 fills, 1999
    # RD points linear on each side of beta = 1 up to 1 / 0.0002770224
    # (= 3609.8; D.2's "≈ 36098" misplaces the decimal point),
    # L = 20, 40 chains, 50 images, a preliminary and a formal run. About 25x
    # the decoder gradients per chain of 'default'. (For 100-dimensional codes the
    # paper used N = 1,600,000 and beta_max = 1 / 0.0003: add
    # --num_intermediate=1600000 --beta_max=3333.33.)
    'paper': {'schedule': 'paper', 'num_intermediate': 40000,
              'rd_spacing': 'paper', 'num_rd_points': 1999,
              'beta_max': 1.0 / 0.0002770224, 'beta_min': 1.0 / 12.0,
              'min_before_first': 800, 'min_between': 10,
              'leapfrog_steps': 20, 'num_chains': 40, 'num_images': 50,
              'step_size_mode': 'two_pass', 'target_accept': 0.65},
}


def apply_preset(default=None):
  """Sets the flags of --preset (or `default`) that were not given.

  Returns:
    The name of the preset applied, or None.
  """
  name = FLAGS.preset or default
  if name is None:
    return None
  for flag_name, value in PRESETS[name].items():
    if flag_name in FLAGS and not FLAGS[flag_name].present:
      FLAGS[flag_name].value = value
  return name


def define_ais_flags(num_chains=16, num_intermediate=20000, num_rd_points=40,
                     beta_max=1000.0, leapfrog_steps=2, min_before_first=4000,
                     distortion_flags=True):
  """Defines the AIS and schedule (and distortion) flags with these defaults.

  The defaults spend the decoder gradients of 4000 distributions, 800 before
  the first point and L = 10 (tfrd's earlier defaults; the paper itself used
  about 25 times more, see PRESETS['paper']) on five times as many
  transitions of L = 2: in `benchmarks/accuracy_study.py` and the BDMC runs
  of the README this left a BDMC gap several times smaller for the same
  decoder evaluations.
  """
  flags.DEFINE_enum(
      'preset', None, list(PRESETS),
      "Named settings (flags given explicitly still win): 'quick' (10 "
      "images, 8 chains, 5000 distributions, one adaptive pass: about a "
      "minute on a CPU), 'default' (the defaults below), 'paper' (appendix "
      'D.2 for 2- to 10-d MNIST codes: sigmoid base N = 40,000, 1999 RD '
      'points to beta = 1/0.0002770224 = 3609.8, L = 20, 40 chains, 50 images, two passes; '
      "about 25x the gradients per chain of 'default', hours on a GPU).")
  flags.DEFINE_integer('num_chains', num_chains,
                       'Independent AIS chains per image (M).')
  flags.DEFINE_integer(
      'num_intermediate', num_intermediate,
      'Size N of the base temperature schedule (appendix D.2, step 1); the '
      'filled schedule may be longer.')
  flags.DEFINE_integer('num_rd_points', num_rd_points,
                       'RD points from --beta_min to --beta_max, spaced as '
                       '--rd_spacing says.')
  flags.DEFINE_enum(
      'rd_spacing', 'log', ['log', 'paper', 'paper_temperature'],
      "'log': log-spaced RD points (a short run still covers every regime); "
      "'paper': appendix D.2's grid, linear from --beta_min to 1 and from 1 "
      "to --beta_max, half the points on each side; 'paper_temperature': "
      'the same but linear in 1/beta above 1 (its schedule length comes '
      "closest to the paper's stated counts; see tfrd.rd_point_betas).")
  flags.DEFINE_float('beta_max', beta_max, 'Largest inverse temperature.')
  flags.DEFINE_float('beta_min', 1.0 / 12.0,
                     'Smallest recorded inverse temperature (paper: 1/12).')
  flags.DEFINE_list(
      'rd_betas', None,
      'Explicit increasing RD inverse temperatures (overrides --num_rd_points, '
      '--beta_min and --beta_max), e.g. 0.1,1,10,100.')
  flags.DEFINE_enum(
      'schedule', 'geometric', ['geometric', 'paper', 'sigmoid', 'linear'],
      "Base schedule of --num_intermediate distributions. 'geometric' "
      '(default): log-spaced from --beta_min to the largest RD beta, with '
      "appendix D.2's fills (at least --min_before_first distributions before "
      "the first RD point, --min_between between points); 'paper': appendix "
      "D.2 exactly (Wu et al.'s sigmoid base with the same fills); 'sigmoid' / "
      "'linear': that base with the RD points inserted and no fill. See the "
      'README for why geometric is the default.')
  flags.DEFINE_integer('min_before_first', min_before_first,
                       'Minimum intermediate distributions before the first '
                       'RD point (appendix D.2 asks for at least 800; the '
                       'default scales that with the L = 2 schedule).')
  flags.DEFINE_integer('min_between', 10,
                       'Minimum intermediate distributions between RD points '
                       '(paper schedule).')
  flags.DEFINE_bool('include_beta_one', True,
                    'Put beta = 1 exactly in the schedule (the log-likelihood '
                    'point of an NLL distortion).')
  flags.DEFINE_integer(
      'leapfrog_steps', leapfrog_steps,
      'Leapfrog steps per HMC transition (L); a transition costs L decoder '
      'gradients. Short trajectories on a long schedule were the most '
      'accurate per gradient in the accuracy study (README), which compared '
      'L = 10 on --num_intermediate=4000 --min_before_first=800 at the same '
      'gradient budget; the paper itself used L = 20 on a far longer '
      'schedule (--preset=paper).')
  flags.DEFINE_enum(
      'step_size_mode', 'two_pass', list(tfrd.ais.STEP_SIZE_MODES),
      "'two_pass': adapt per-chain step sizes toward --target_accept in a "
      "preliminary run, replay them frozen with a fresh seed (appendix D.2); "
      "'adaptive': one run that adapts (half the cost); 'fixed': "
      '--initial_step_size throughout.')
  flags.DEFINE_float('initial_step_size', 0.1, 'Initial HMC step size.')
  flags.DEFINE_float('target_accept', 0.65,
                     'Target HMC acceptance of the adaptation.')
  flags.DEFINE_integer('seed', 0, 'Seed; results are a function of it.')
  flags.DEFINE_enum('jit', 'auto', ['auto', 'true', 'false'],
                    'XLA-compile the AIS loop (auto: fall back when the '
                    'decoder does not compile).')
  if not distortion_flags:
    return
  flags.DEFINE_enum(
      'distortion', 'mse',
      ['mse', 'gaussian_nll', 'bernoulli_nll', 'ssim', 'features'],
      'Distortion d(x, f(z)), summed over data dimensions: squared error, '
      'Gaussian or Bernoulli negative log-likelihood, 1 - SSIM (§1), or '
      'squared error between deep features of --feature_model (§6.3).')
  flags.DEFINE_string(
      'gaussian_scale', '1.0',
      "Observation standard deviation of --distortion=gaussian_nll, or "
      "'decoder' for the decoder's own variance (its output then holds a "
      'mean and a log-variance; see --output_kind).')
  flags.DEFINE_bool('bernoulli_from_logits', False,
                    'With --distortion=bernoulli_nll: the decoder returns '
                    'logits rather than probabilities.')
  flags.DEFINE_string(
      'feature_model', None,
      'With --distortion=features: a Keras 3 .keras model mapping images '
      '(shaped like the data) to features, e.g. a hidden layer of an MNIST '
      'classifier.')


def check_flags():
  """Refuses impossible AIS flag values before any work.

  Raises:
    ValueError: naming the first flag whose value cannot work.
  """
  at_least = {'num_chains': 1, 'num_intermediate': 1, 'num_rd_points': 1,
              'leapfrog_steps': 1, 'min_before_first': 0, 'min_between': 0,
              'seed': 0}
  for name, least in at_least.items():
    if FLAGS[name].value < least:
      raise ValueError(f'--{name} must be at least {least}, got '
                       f'{FLAGS[name].value}.')
  for name in ('beta_max', 'beta_min', 'initial_step_size'):
    value = FLAGS[name].value
    if not (value > 0 and value < float('inf')):
      raise ValueError(f'--{name} must be positive and finite, got {value}.')
  if not 0 < FLAGS.target_accept < 1:
    raise ValueError(f'--target_accept is an acceptance probability in (0, '
                     f'1), got {FLAGS.target_accept}.')


def schedule_from_flags():
  """The `AnnealingSchedule` the flags describe.

  Raises:
    ValueError: for inconsistent flags (e.g. non-increasing --rd_betas).
  """
  if FLAGS.rd_betas:
    try:
      rd_betas = [float(value) for value in FLAGS.rd_betas]
    except ValueError:
      raise ValueError(f'--rd_betas must be numbers, got {FLAGS.rd_betas}.'
                       ) from None
    beta_max = rd_betas[-1]
  else:
    beta_max = FLAGS.beta_max
    rd_betas = tfrd.rd_point_betas(FLAGS.num_rd_points, beta_max,
                                   beta_min=FLAGS.beta_min,
                                   include_beta_one=FLAGS.include_beta_one,
                                   spacing=FLAGS.rd_spacing)
  beta_max = max(beta_max, 1e-12)  # build_schedule reports bad RD points
  if FLAGS.schedule == 'linear':
    base = tfrd.linear_betas(FLAGS.num_intermediate, beta_max)
  elif FLAGS.schedule == 'geometric':
    base = tfrd.geometric_betas(FLAGS.num_intermediate, beta_max,
                                min(rd_betas[0], beta_max / 2)
                                if rd_betas[0] > 0 else beta_max / 2)
  else:
    base = tfrd.sigmoid_betas(FLAGS.num_intermediate, beta_max)
  if FLAGS.schedule in ('paper', 'geometric'):
    return tfrd.build_schedule(rd_betas, base, FLAGS.min_before_first,
                               FLAGS.min_between)
  return tfrd.build_schedule(rd_betas, base, 0, 0)


def distortion_from_flags(image_shape=None):
  """The `tfrd.Distortion` the flags describe.

  Args:
    image_shape: per-image data shape, needed by ssim and features.

  Raises:
    ValueError: for inconsistent flags.
  """
  if FLAGS.distortion == 'gaussian_nll':
    scale = FLAGS.gaussian_scale
    if scale != 'decoder':
      try:
        scale = float(scale)
      except ValueError:
        raise ValueError(f"--gaussian_scale must be a number or 'decoder', "
                         f'got {scale!r}.') from None
    return tfrd.GaussianNLL(scale)
  if FLAGS.distortion == 'bernoulli_nll':
    return tfrd.BernoulliNLL(from_logits=FLAGS.bernoulli_from_logits)
  if FLAGS.distortion in ('ssim', 'features'):
    image_shape = tuple(int(d) for d in image_shape or ())
    if len(image_shape) == 2:
      image_shape += (1,)
    if len(image_shape) != 3:
      raise ValueError(
          f'--distortion={FLAGS.distortion} needs image data of shape '
          f'(height, width, channels); got per-image shape {image_shape}.')
    if FLAGS.distortion == 'ssim':
      return tfrd.SSIMDistortion(image_shape)
    if not FLAGS.feature_model:
      raise ValueError('--distortion=features needs --feature_model=PATH.keras.')
    return tfrd.DeepFeatureDistortion(
        _load_feature_model(FLAGS.feature_model), image_shape)
  return tfrd.SquaredError()


def _load_feature_model(path):
  """The Keras 3 model of --feature_model, loaded like the decoder.

  The feature model may use the user's own layers too, so the model loading
  flags (--import, --custom_objects, --unsafe_deserialization) apply to it
  in the apps that define them.
  """
  import os  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise ValueError(f'--feature_model not found: {path}')
  # pylint: disable=g-import-not-at-top
  from adapters import models
  from apps import model_flags
  # pylint: enable=g-import-not-at-top
  options = (model_flags.loading_kwargs_from_flags()
             if 'unsafe_deserialization' in FLAGS else {})
  try:
    return models.load_keras_model(path, **options)
  except models.ModelError as error:
    raise ValueError(f'--feature_model={path}: {error}') from None


def hmc_settings_from_flags():
  """The `tfrd.HMCSettings` the flags describe."""
  return tfrd.HMCSettings(
      num_leapfrog_steps=FLAGS.leapfrog_steps,
      step_size_mode=FLAGS.step_size_mode,
      initial_step_size=FLAGS.initial_step_size,
      target_accept_prob=FLAGS.target_accept)


def ais_kwargs_from_flags():
  """Keyword arguments of `tfrd.estimate_rd_curve` set by the flags."""
  return dict(
      num_chains=FLAGS.num_chains,
      seed=FLAGS.seed,
      hmc_settings=hmc_settings_from_flags(),
      jit_compile={'auto': 'auto', 'true': True, 'false': False}[FLAGS.jit])
