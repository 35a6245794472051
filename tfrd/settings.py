"""The settings of an AIS run as a few values: what to anneal and how to run.

`tfrd.estimate_rd_curve` and its relatives take their choices grouped by
what they are about, each group one immutable, validated value:

- `ScheduleSettings`: the annealing schedule as the apps describe it (kind
  of base schedule, its size, the RD points); `tfrd.schedule_from_settings`
  builds the `AnnealingSchedule`;
- `ChainSettings`: the chains: how many per image, their seed, the HMC
  transition (`HMCSettings`), XLA, the decoder's dtype and an optional
  step-size table to replay;
- `RunControl`: how a run is driven, not what it computes: progress
  reports, checkpoints, stop requests, devices;
- `AccuracySettings`: the BDMC check every curve gets and the gap its
  schedule is lengthened to meet (`tfrd.accuracy`).

The defaults here are tfrd's one set of defaults (the apps' flags take
theirs from them). This module imports neither TensorFlow, TFP nor NumPy, so
that programs can define their flags from it before TensorFlow loads.
"""

import collections
import math
import os

__all__ = ['HMCSettings', 'STEP_SIZE_MODES', 'MASS_MATRICES',
           'ScheduleSettings',
           'SCHEDULE_KINDS', 'RD_SPACINGS', 'ChainSettings',
           'DECODER_DTYPES', 'RunControl', 'AccuracySettings',
           'MIN_CHECK_IMAGES']

# How the step sizes of an AIS run are chosen (appendix D.2; see
# `tfrd.passes` for the passes each mode makes).
STEP_SIZE_MODES = ('two_pass', 'adaptive', 'fixed')

# The HMC mass matrices of `HMCSettings.mass_matrix` (`tfrd.preconditioning`).
MASS_MATRICES = ('identity', 'hessian')

# Base schedules of `ScheduleSettings.kind`.
SCHEDULE_KINDS = ('geometric', 'paper', 'sigmoid', 'linear')

# Spacings of the RD points (`tfrd.rd_point_betas`).
RD_SPACINGS = ('log', 'linear', 'paper', 'paper_temperature')

# Decoder dtypes `ChainSettings.decoder_dtype` accepts (floating point).
DECODER_DTYPES = ('float16', 'bfloat16', 'float32', 'float64')

# The fewest images simulated per point that may judge a target gap
# (`tfrd.accuracy.within_target`): the standard error of fewer is itself
# too noisy to allow for (docs/bdmc.md), and the automatic count never
# goes below it.
MIN_CHECK_IMAGES = 4


class _Validated:
  """Makes `_replace` validate like the constructor (namedtuple's does not)."""
  __slots__ = ()

  def _replace(self, **changes):
    """A copy with the given fields changed, validated like a new value."""
    return type(self)(**{**self._asdict(), **changes})


class HMCSettings(
    _Validated,
    collections.namedtuple(
        'HMCSettings',
        ['num_leapfrog_steps', 'step_size_mode', 'initial_step_size',
         'target_accept_prob', 'adaptation_rate', 'shared_step_size',
         'mass_matrix'])):
  """The HMC choices of an AIS run, as one value.

  Attributes:
    num_leapfrog_steps: L; a transition costs exactly L decoder gradients.
    step_size_mode: one of `STEP_SIZE_MODES`: 'two_pass' (adapt in a
      preliminary run, replay the step sizes frozen with a fresh seed;
      appendix D.2), 'adaptive' (one adapting run) or 'fixed'.
    initial_step_size: starting (or fixed) step size.
    target_accept_prob: acceptance the adaptation aims at (Neal's 65%).
    adaptation_rate: see `tfrd.hmc.adapt_step_size`.
    shared_step_size: adapt one step size per image (its chains alike, on
      their mean acceptance) instead of one per chain.
    mass_matrix: one of `MASS_MATRICES`: 'identity' (plain HMC) or
      'hessian' (a per-image mass matrix I + β·H̄ from the distortion's
      Hessian, learned in the pass that adapts the step sizes: the
      preliminary pass of 'two_pass', replayed frozen in the reported one,
      or the one pass of 'adaptive'; `tfrd.preconditioning`). None (the
      default) is 'hessian', except with `step_size_mode='fixed'`, which
      adapts nothing and so has the identity; on deep decoders the Hessian
      reaches a given BDMC gap with several times fewer decoder gradients
      (docs/accuracy.md).
  """
  __slots__ = ()

  def __new__(cls, num_leapfrog_steps=2, step_size_mode='two_pass',
              initial_step_size=0.1, target_accept_prob=0.65,
              adaptation_rate=0.05, shared_step_size=False,
              mass_matrix=None):
    if step_size_mode not in STEP_SIZE_MODES:
      raise ValueError(f'step_size_mode must be one of {STEP_SIZE_MODES}, '
                       f'got {step_size_mode!r}.')
    if mass_matrix is None:
      mass_matrix = 'identity' if step_size_mode == 'fixed' else 'hessian'
    if mass_matrix not in MASS_MATRICES:
      raise ValueError(f'mass_matrix must be one of {MASS_MATRICES}, got '
                       f'{mass_matrix!r}.')
    if mass_matrix != 'identity' and step_size_mode == 'fixed':
      raise ValueError(
          f"mass_matrix={mass_matrix!r} is learned while the step sizes "
          f"adapt: it needs step_size_mode='two_pass' or 'adaptive', got "
          f"'fixed' (use mass_matrix='identity').")
    if int(num_leapfrog_steps) < 1:
      raise ValueError('num_leapfrog_steps must be >= 1.')
    if not initial_step_size > 0:
      raise ValueError(f'initial_step_size must be positive, got '
                       f'{initial_step_size!r}.')
    return super().__new__(cls, int(num_leapfrog_steps), step_size_mode,
                           float(initial_step_size), float(target_accept_prob),
                           float(adaptation_rate), bool(shared_step_size),
                           mass_matrix)

  @classmethod
  def make(cls, settings=None, **overrides):
    """`settings` (defaults if None) with the given fields replaced.

    Raises:
      TypeError: for a keyword that is not a field.
    """
    unknown = sorted(set(overrides) - set(cls._fields))
    if unknown:
      raise TypeError(f'Unknown HMC settings {unknown}; the fields are '
                      f'{cls._fields}.')
    return cls(**{**(settings or cls())._asdict(), **overrides})


class ScheduleSettings(
    _Validated,
    collections.namedtuple(
        'ScheduleSettings',
        ['kind', 'num_intermediate', 'num_rd_points', 'rd_betas', 'beta_min',
         'beta_max', 'include_beta_one', 'rd_spacing', 'min_before_first',
         'min_between'])):
  """An AIS schedule as the apps describe it (appendix D.2's construction).

  `tfrd.schedule_from_settings` turns it into an `AnnealingSchedule`: RD
  points (`tfrd.rd_point_betas`, or `rd_betas` as given) merged into a base
  schedule (`tfrd.build_schedule`). The defaults are where a curve's
  accuracy search starts (`tfrd.accuracy.settle_schedule`, on by default
  in the apps): 5000 geometric distributions, 1000 before the first point,
  about 6,000 transitions of L = 2, which the search lengthens until the
  BDMC verdict holds. With the Hessian mass matrix and the schedule
  re-spaced by thermodynamic length that start was enough for the deep
  64-d MLP of docs/accuracy.md, where plain HMC on the geometric schedule
  needed 80,000; short trajectories on a long schedule were several times
  tighter per gradient than L = 10 in the accuracy study. Without a search
  (a library call, or no target) it is a quick schedule; ask for a longer
  one, or a target.

  Attributes:
    kind: the base schedule of `num_intermediate` distributions, one of
      `SCHEDULE_KINDS`: 'geometric' (log-spaced from the lowest RD point to
      the highest, with appendix D.2's fills: at least `min_before_first`
      distributions before the first RD point, `min_between` between
      points), 'paper' (appendix D.2 exactly: Wu et al.'s sigmoid base with
      the same fills), 'sigmoid' or 'linear' (that base with the RD points
      inserted and no fill).
    num_intermediate: size N of the base schedule; the filled schedule may
      be longer.
    num_rd_points: RD points from `beta_min` to `beta_max`, spaced as
      `rd_spacing` says.
    rd_betas: None, or explicit strictly increasing positive RD inverse
      temperatures (a tuple of floats); they override `num_rd_points`,
      `beta_min` and `beta_max` (the largest is then the last β).
    beta_min: the smallest recorded inverse temperature (paper: 1/12).
    beta_max: the largest inverse temperature.
    include_beta_one: put β = 1 exactly among the RD points (the
      log-likelihood point of an NLL distortion).
    rd_spacing: one of `RD_SPACINGS` (see `tfrd.rd_point_betas`): 'log'
      (a short run still covers every regime), 'linear', 'paper' (appendix
      D.2's grid, linear from `beta_min` to 1 and from 1 to `beta_max`) or
      'paper_temperature' (the same but linear in 1/β above 1).
    min_before_first: least intermediate distributions before the first RD
      point ('geometric' and 'paper' only).
    min_between: least intermediate distributions between RD points
      ('geometric' and 'paper' only).
  """
  __slots__ = ()

  def __new__(cls, kind='geometric', num_intermediate=5000,
              num_rd_points=40, rd_betas=None, beta_min=1.0 / 12.0,
              beta_max=1000.0, include_beta_one=True, rd_spacing='log',
              min_before_first=1000, min_between=10):
    if kind not in SCHEDULE_KINDS:
      raise ValueError(f'kind must be one of {SCHEDULE_KINDS}, got {kind!r}.')
    if rd_spacing not in RD_SPACINGS:
      raise ValueError(f'rd_spacing must be one of {RD_SPACINGS}, got '
                       f'{rd_spacing!r}.')
    num_intermediate = _integer(num_intermediate, 'num_intermediate', 1)
    num_rd_points = _integer(num_rd_points, 'num_rd_points', 1)
    min_before_first = _integer(min_before_first, 'min_before_first', 0)
    min_between = _integer(min_between, 'min_between', 0)
    beta_min = _positive_finite(beta_min, 'beta_min')
    beta_max = _positive_finite(beta_max, 'beta_max')
    if rd_betas is not None:
      try:
        rd_betas = tuple(float(beta) for beta in rd_betas)
      except (TypeError, ValueError):
        raise ValueError(f'rd_betas must be numbers, got {rd_betas!r}.'
                         ) from None
      if not rd_betas:
        raise ValueError('rd_betas must hold at least one RD point.')
      if not all(math.isfinite(beta) and beta > 0 for beta in rd_betas):
        raise ValueError(f'RD inverse temperatures must be positive and '
                         f'finite, got {list(rd_betas)}.')
      if any(b <= a for a, b in zip(rd_betas, rd_betas[1:])):
        raise ValueError(f'RD inverse temperatures must be strictly '
                         f'increasing, got {list(rd_betas)}.')
    return super().__new__(cls, kind, num_intermediate, num_rd_points,
                           rd_betas, beta_min, beta_max,
                           bool(include_beta_one), rd_spacing,
                           min_before_first, min_between)


class ChainSettings(
    _Validated,
    collections.namedtuple(
        'ChainSettings',
        ['num_chains', 'seed', 'hmc', 'jit_compile', 'decoder_dtype',
         'step_size_table'])):
  """The AIS chains of a run: how many, their randomness and their moves.

  Attributes:
    num_chains: independent AIS chains per image (M), at least 1.
    seed: non-negative integer seed; with the same seed, images, schedule and
      settings, the result is identical.
    hmc: the `HMCSettings` of the transitions (leapfrog steps, step-size
      mode, ...); `HMCSettings()` if None is given. Its default L = 2 wants
      a schedule about five times longer than L = 10 (the default
      `ScheduleSettings` is).
    jit_compile: True (XLA), False (graph mode) or 'auto' (XLA, falling
      back to graph mode if the decoder does not compile).
    decoder_dtype: the decoder's input and computation dtype, by name (one
      of `DECODER_DTYPES`); a `tf.DType` or NumPy dtype is accepted and
      stored as its name. The chain state stays float64.
    step_size_table: None, or a [segments, N·C] per-chain step-size table
      from an earlier run on the same images and schedule
      (`RDCurve.step_size_table`), replayed frozen instead of adapting.
  """
  __slots__ = ()

  def __new__(cls, num_chains=16, seed=0, hmc=None, jit_compile='auto',
              decoder_dtype='float32', step_size_table=None):
    num_chains = _integer(num_chains, 'num_chains', 1)
    seed = _integer(seed, 'seed', 0)
    if hmc is None:
      hmc = HMCSettings()
    if not isinstance(hmc, HMCSettings):
      raise TypeError(f'hmc must be an HMCSettings, got {hmc!r}.')
    if isinstance(jit_compile, str):
      if jit_compile != 'auto':
        raise ValueError(f"jit_compile must be True, False or 'auto', got "
                         f'{jit_compile!r}.')
    elif jit_compile in (True, False):  # Also NumPy booleans.
      jit_compile = bool(jit_compile)
    else:
      raise ValueError(f"jit_compile must be True, False or 'auto', got "
                       f'{jit_compile!r}.')
    return super().__new__(cls, num_chains, seed, hmc, jit_compile,
                           _dtype_name(decoder_dtype), step_size_table)


class RunControl(
    _Validated,
    collections.namedtuple(
        'RunControl',
        ['progress', 'checkpoint_dir', 'resume', 'checkpoint_interval_s',
         'stop', 'strategy'])):
  """How a run is driven: reports, checkpoints, stopping, devices.

  None of these change the numbers a run computes: an interrupted and
  resumed run, or one split among devices, gives the curve of an
  uninterrupted single-device run.

  Attributes:
    progress: None, or a callable receiving a `tfrd.ProgressUpdate` after
      every chunk of transitions.
    checkpoint_dir: None, or a directory for `tf.train.Checkpoint`s of the
      chain state, written every `checkpoint_interval_s` seconds and at the
      end of each pass. A run started again with the same arguments resumes
      there and gives exactly the uninterrupted result; a checkpoint of
      another model, data, schedule or settings is refused
      (`tfrd.CheckpointMismatchError`).
    resume: with `checkpoint_dir`, whether an existing checkpoint may be
      resumed; if False and one exists, `tfrd.CheckpointExistsError` is
      raised rather than overwriting it.
    checkpoint_interval_s: least seconds between checkpoints (>= 0).
    stop: None, or a `threading.Event` (anything with `is_set()`); once set,
      the run checkpoints at the end of the current chunk and raises
      `tfrd.RunInterrupted`.
    strategy: None, or a `tf.distribute.Strategy` whose replicas share the
      images (see `tfrd.distribute`).
  """
  __slots__ = ()

  def __new__(cls, progress=None, checkpoint_dir=None, resume=True,
              checkpoint_interval_s=60.0, stop=None, strategy=None):
    if progress is not None and not callable(progress):
      raise TypeError(f'progress must be callable, got {progress!r}.')
    if checkpoint_dir is not None:
      checkpoint_dir = os.fspath(checkpoint_dir)
    checkpoint_interval_s = float(checkpoint_interval_s)
    if not checkpoint_interval_s >= 0:
      raise ValueError(f'checkpoint_interval_s must be >= 0, got '
                       f'{checkpoint_interval_s!r}.')
    if stop is not None and not callable(getattr(stop, 'is_set', None)):
      raise TypeError(f'stop must have an is_set() method (e.g. a '
                      f'threading.Event), got {stop!r}.')
    return super().__new__(cls, progress, checkpoint_dir, bool(resume),
                           checkpoint_interval_s, stop, strategy)


class AccuracySettings(
    _Validated,
    collections.namedtuple(
        'AccuracySettings',
        ['betas', 'num_images', 'max_cost_fraction', 'target_gap',
         'max_num_intermediate', 'grow_schedule', 'adapt_schedule'])):
  """How a curve checks its own accuracy (`tfrd.accuracy`).

  Attributes:
    betas: None (the default points: the lowest RD β, β = 1 and the highest,
      `tfrd.bdmc.default_bdmc_betas`), () for no check at all, or a tuple
      of positive inverse temperatures within the schedule.
    num_images: images simulated at each point; None: as many as keep the
      check's decoder gradients within `max_cost_fraction` of the curve's,
      at most 8 and at least 1, or with a `target_gap` at least
      `MIN_CHECK_IMAGES` (4: a curve of few images then pays more for its
      check than that share). Given with a `target_gap`, at least
      `MIN_CHECK_IMAGES`.
    max_cost_fraction: the check's largest share of the curve's decoder
      gradients when `num_images` is None (0.5).
    target_gap: None, or the BDMC gap in nats that every checked point must
      meet: the schedule is lengthened until every point's mean gap plus
      two standard errors is at most this (`tfrd.accuracy.within_target`,
      `tfrd.accuracy.settle_schedule`). Default 1 nat.
    max_num_intermediate: the compute cap of that search: the longest base
      schedule (`ScheduleSettings.num_intermediate`) it may try.
    grow_schedule: whether `target_gap` may lengthen the schedule. True
      (the default): the schedule given is the search's first attempt.
      False: the curve runs on exactly the schedule given, and the check,
      made after the curve, judges it against `target_gap` and warns when
      a point misses it: a schedule its user chose is checked, never
      silently grown (the apps set False when the schedule is given and
      the target is not). Without a target it changes nothing.
    adapt_schedule: whether a search also re-spaces the schedules it
      tries by thermodynamic length (`tfrd.schedules.thermodynamic_schedule`:
      the same transitions and RD points, more of them where Var_β[d] is
      large), from the distortion's variance measured once by one adaptive
      pass on simulated images (`tfrd.accuracy.measure_speed`). The curve
      then runs on the adapted schedule the check certified. Only a search
      adapts (a target, and `grow_schedule`).
  """
  __slots__ = ()

  def __new__(cls, betas=None, num_images=None, max_cost_fraction=0.5,
              target_gap=1.0, max_num_intermediate=320000,
              grow_schedule=True, adapt_schedule=True):
    if betas is not None:
      try:
        betas = tuple(sorted({float(beta) for beta in betas}))
      except (TypeError, ValueError):
        raise ValueError(f'betas must be numbers, got {betas!r}.') from None
      if not all(math.isfinite(beta) and beta > 0 for beta in betas):
        raise ValueError(f'BDMC points must be positive and finite, got '
                         f'{list(betas)}.')
    if num_images is not None:
      num_images = _integer(num_images, 'num_images', 1)
    max_cost_fraction = _positive_finite(max_cost_fraction,
                                         'max_cost_fraction')
    if target_gap is not None:
      target_gap = _positive_finite(target_gap, 'target_gap')
      if num_images is not None and num_images < MIN_CHECK_IMAGES:
        raise ValueError(
            f'num_images={num_images} simulated images cannot judge a '
            f'target gap: its verdict needs at least {MIN_CHECK_IMAGES} '
            f'(their standard error is too noisy below); ask for more, or '
            f'for no target.')
    max_num_intermediate = _integer(max_num_intermediate,
                                    'max_num_intermediate', 1)
    for name, value in (('grow_schedule', grow_schedule),
                        ('adapt_schedule', adapt_schedule)):
      if value not in (True, False):  # Also NumPy booleans.
        raise ValueError(f'{name} must be True or False, got {value!r}.')
    return super().__new__(cls, betas, num_images, max_cost_fraction,
                           target_gap, max_num_intermediate,
                           bool(grow_schedule), bool(adapt_schedule))

  @property
  def enabled(self):
    """Whether a check runs at all (`betas` is not empty)."""
    return self.betas is None or bool(self.betas)


def _integer(value, name, least):
  if isinstance(value, bool) or int(value) != value or value < least:
    raise ValueError(f'{name} must be an integer >= {least}, got {value!r}.')
  return int(value)


def _positive_finite(value, name):
  value = float(value)
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f'{name} must be positive and finite, got {value!r}.')
  return value


def _dtype_name(dtype):
  """'float32' for tf.float32, np.float32, np.dtype('float32') or 'float32'."""
  name = dtype if isinstance(dtype, str) else getattr(
      dtype, 'name', getattr(dtype, '__name__', None))
  if name not in DECODER_DTYPES:
    raise ValueError(f'decoder_dtype must be one of {DECODER_DTYPES}, got '
                     f'{dtype!r}.')
  return name
