"""Flags shared by the apps that run AIS, and the settings they describe.

The defaults are tfrd's own (`tfrd.ScheduleSettings`, `tfrd.ChainSettings`,
`tfrd.HMCSettings`), read from `tfrd.settings`, which loads no TensorFlow:
`--help` stays quick. The `*_from_flags` functions turn the flags into
those settings values, refusing impossible values with one line naming the
flag, before any work.
"""

from absl import flags

from apps import number_flags
from pipelines import settings as pipeline_settings
from tfrd import settings as tfrd_settings

__all__ = ['SCHEDULE_FLAGS', 'define_ais_flags', 'preset_from_flags',
           'schedule_settings_from_flags', 'explicit_schedule_from_flags',
           'schedule_from_flags',
           'hmc_settings_from_flags', 'chain_settings_from_flags',
           'distortion_settings_from_flags']

FLAGS = flags.FLAGS

# The flags that set the base schedule: its kind, its size and its fills,
# which a search of --target_gap lengthens (the RD points' flags place the
# points, which it keeps).
SCHEDULE_FLAGS = ('schedule', 'num_intermediate', 'min_before_first',
                  'min_between')

_SCHEDULE = tfrd_settings.ScheduleSettings()
_CHAINS = tfrd_settings.ChainSettings()
_HMC = tfrd_settings.HMCSettings()


def preset_from_flags(default=None):
  """Sets the flags of --preset (or `default`) that were not given.

  Returns:
    The name of the preset applied, or None.
  """
  name = FLAGS.preset or default
  if name is None:
    return None
  for flag_name, value in pipeline_settings.PRESETS[name].items():
    if flag_name in FLAGS and not FLAGS[flag_name].present:
      FLAGS[flag_name].value = value
  return name


def define_ais_flags(num_intermediate=_SCHEDULE.num_intermediate,
                     num_rd_points=_SCHEDULE.num_rd_points,
                     beta_max=_SCHEDULE.beta_max,
                     min_before_first=_SCHEDULE.min_before_first,
                     distortion_flags=True):
  """Defines the AIS and schedule (and distortion) flags.

  The defaults are tfrd's (an app may shorten the schedule's); they spend the decoder gradients of 4000 distributions, 800 before
  the first point and L = 10 (tfrd's earlier defaults; the paper itself used
  about 25 times more, see PRESETS['paper']) on five times as many
  transitions of L = 2: in `benchmarks/accuracy_study.py` and the BDMC runs
  of the README this left a BDMC gap several times smaller for the same
  decoder evaluations.
  """
  flags.DEFINE_enum(
      'preset', None, list(pipeline_settings.PRESETS),
      "Named settings (flags given explicitly still win): 'quick' (10 "
      "images, 8 chains, 5000 distributions, one adaptive pass: about a "
      "minute on a CPU), 'default' (the defaults below), 'paper' (appendix "
      'D.2 for 2- to 10-d MNIST codes: sigmoid base N = 40,000, 1999 RD '
      'points to beta = 1/0.0002770224 = 3609.8, L = 20, 40 chains, 50 images, two passes; '
      "about 25x the gradients per chain of 'default', hours on a GPU).")
  flags.DEFINE_integer('num_chains', _CHAINS.num_chains,
                       'Independent AIS chains per image (M).')
  flags.DEFINE_integer(
      'num_intermediate', num_intermediate,
      'Size N of the base temperature schedule (appendix D.2, step 1); the '
      'filled schedule may be longer.')
  flags.DEFINE_integer('num_rd_points', num_rd_points,
                       'RD points from --beta_min to --beta_max, spaced as '
                       '--rd_spacing says.')
  flags.DEFINE_enum(
      'rd_spacing', _SCHEDULE.rd_spacing, ['log', 'paper', 'paper_temperature'],
      "'log': log-spaced RD points (a short run still covers every regime); "
      "'paper': appendix D.2's grid, linear from --beta_min to 1 and from 1 "
      "to --beta_max, half the points on each side; 'paper_temperature': "
      'the same but linear in 1/beta above 1 (its schedule length comes '
      "closest to the paper's stated counts; see tfrd.rd_point_betas).")
  flags.DEFINE_float('beta_max', beta_max, 'Largest inverse temperature.')
  flags.DEFINE_float('beta_min', _SCHEDULE.beta_min,
                     'Smallest recorded inverse temperature (paper: 1/12).')
  flags.DEFINE_list(
      'rd_betas', None,
      'Explicit increasing RD inverse temperatures (overrides --num_rd_points, '
      '--beta_min and --beta_max), e.g. 0.1,1,10,100.')
  flags.DEFINE_enum(
      'schedule', _SCHEDULE.kind, list(tfrd_settings.SCHEDULE_KINDS),
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
  flags.DEFINE_integer('min_between', _SCHEDULE.min_between,
                       'Minimum intermediate distributions between RD points '
                       '(paper schedule).')
  flags.DEFINE_bool('include_beta_one', _SCHEDULE.include_beta_one,
                    'Put beta = 1 exactly in the schedule (the log-likelihood '
                    'point of an NLL distortion).')
  flags.DEFINE_integer(
      'leapfrog_steps', _HMC.num_leapfrog_steps,
      'Leapfrog steps per HMC transition (L); a transition costs L decoder '
      'gradients. Short trajectories on a long schedule were the most '
      'accurate per gradient in the accuracy study (docs/accuracy.md), which compared '
      'L = 10 on --num_intermediate=4000 --min_before_first=800 at the same '
      'gradient budget; the paper itself used L = 20 on a far longer '
      'schedule (--preset=paper).')
  flags.DEFINE_enum(
      'step_size_mode', _HMC.step_size_mode, list(tfrd_settings.STEP_SIZE_MODES),
      "'two_pass': adapt per-chain step sizes toward --target_accept in a "
      "preliminary run, replay them frozen with a fresh seed (appendix D.2); "
      "'adaptive': one run that adapts (half the cost); 'fixed': "
      '--initial_step_size throughout.')
  flags.DEFINE_enum(
      'mass_matrix', None, list(tfrd_settings.MASS_MATRICES),
      "HMC mass matrix: 'hessian' (per image, I + beta * the mean Hessian "
      'of the distortion, measured while the step sizes adapt at up to 16 '
      'points of the schedule; several times fewer decoder gradients for '
      "the same gap on deep decoders) or 'identity' (plain HMC). Default: "
      "'hessian', but 'identity' with --step_size_mode=fixed or a replayed "
      '--step_sizes table.')
  flags.DEFINE_float('initial_step_size', _HMC.initial_step_size, 'Initial HMC step size.')
  flags.DEFINE_float('target_accept', _HMC.target_accept_prob,
                     'Target HMC acceptance of the adaptation.')
  flags.DEFINE_integer('seed', _CHAINS.seed, 'Seed; results are a function of it.')
  flags.DEFINE_enum('jit', str(_CHAINS.jit_compile).lower(), ['auto', 'true', 'false'],
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


def _numbers_from_flags():
  """The numeric AIS flags by name, once each is checked.

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
  return {name: FLAGS[name].value for name in (
      *at_least, 'beta_max', 'beta_min', 'initial_step_size',
      'target_accept')}


def schedule_settings_from_flags():
  """The `tfrd.ScheduleSettings` the flags describe.

  Raises:
    ValueError: for impossible values (e.g. non-increasing --rd_betas).
  """
  numbers = _numbers_from_flags()
  rd_betas = number_flags.floats_from_flags('rd_betas')
  return tfrd_settings.ScheduleSettings(
      kind=FLAGS.schedule, num_intermediate=numbers['num_intermediate'],
      num_rd_points=numbers['num_rd_points'], rd_betas=rd_betas,
      beta_min=numbers['beta_min'], beta_max=numbers['beta_max'],
      include_beta_one=FLAGS.include_beta_one, rd_spacing=FLAGS.rd_spacing,
      min_before_first=numbers['min_before_first'],
      min_between=numbers['min_between'])


def explicit_schedule_from_flags():
  """The `SCHEDULE_FLAGS` given on the command line, in order (a preset's
  values are not the user's: only flags present count)."""
  return tuple(name for name in SCHEDULE_FLAGS
               if name in FLAGS and FLAGS[name].present)


def schedule_from_flags():
  """The `tfrd.AnnealingSchedule` the flags describe (loads TensorFlow).

  Raises:
    ValueError: for impossible values.
  """
  import tfrd  # pylint: disable=g-import-not-at-top
  return tfrd.schedule_from_settings(schedule_settings_from_flags())


def hmc_settings_from_flags():
  """The `tfrd.HMCSettings` the flags describe."""
  return tfrd_settings.HMCSettings(
      num_leapfrog_steps=FLAGS.leapfrog_steps,
      step_size_mode=FLAGS.step_size_mode,
      initial_step_size=FLAGS.initial_step_size,
      target_accept_prob=FLAGS.target_accept,
      mass_matrix=FLAGS.mass_matrix)


def chain_settings_from_flags():
  """The `tfrd.ChainSettings` the flags describe.

  Raises:
    ValueError: naming the first flag whose value cannot work.
  """
  numbers = _numbers_from_flags()
  return tfrd_settings.ChainSettings(
      num_chains=numbers['num_chains'], seed=numbers['seed'],
      hmc=hmc_settings_from_flags(),
      jit_compile={'auto': 'auto', 'true': True, 'false': False}[FLAGS.jit])


def distortion_settings_from_flags():
  """The `pipelines.settings.DistortionSettings` the flags describe."""
  return pipeline_settings.DistortionSettings(
      name=FLAGS.distortion, gaussian_scale=FLAGS.gaussian_scale,
      bernoulli_from_logits=FLAGS.bernoulli_from_logits,
      feature_model=FLAGS.feature_model)
