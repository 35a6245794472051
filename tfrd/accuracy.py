"""Every curve states its own accuracy: a BDMC check, and a schedule long
enough to meet a target gap.

Why this exists: an AIS curve is a stochastic bound whose looseness depends
on the decoder. The defaults that are tight on shallow 10-d MLPs (BDMC gaps
under 0.3 nats) were 5 nats loose at β = 1000 on a deep MLP with a 64-d code
(docs/accuracy.md), and a curve said nothing about it. So every curve is
checked, by default, where it is made:

- **The check** (paper §2.1, appendix D.3.2): at a few β of the curve (the
  lowest RD β, β = 1 and the highest, `tfrd.bdmc.default_bdmc_betas`),
  images are simulated from the user's own decoder at β and forward and
  reverse AIS run along the curve's schedule truncated at β, with the
  curve's chains, leapfrog steps and step-size mode (`tfrd.bdmc_at_points`).
  The gap, upper minus lower bound on log Z_β, bounds in expectation the
  error of the forward estimate of log Z_β, hence of the rate R̂ = -log Ẑ -
  βD̂ (eq. 15), on data simulated from the decoder at β, run at the
  curve's schedule; on the user's own images it is the best available
  indication, not a bound (`EXPLANATION`): nothing here certifies the
  user's curve.
- **The target** (`settle_schedule`): the check runs alone first, on the
  schedule asked for; while a point is not within `target_gap`
  (`within_target`: its mean gap plus `STDERR_MARGIN` standard errors, on
  at least `MIN_CHECK_IMAGES` simulated images, so that a gap that meets
  the target does so beyond its noise), the base schedule and its fills
  are made longer by the power of two at or above the worst such gap's
  ratio to the target (on long schedules AIS's gap falls about as 1/T, on
  shorter ones faster; at least a doubling), until every point meets the
  target or the next length would pass `max_num_intermediate`. The
  settled schedule is then checked once more on fresh simulated images
  (those after the search's): the attempt that stopped the search was
  chosen for meeting the target, so its gaps lean low by about a standard
  error, and the fresh measurement, not it, is the curve's check and
  verdict. The curve then runs once, on the settled schedule: a model the
  defaults suit pays for two checks, a deep one gets the schedule it
  needs. `search_reach` is the most the search and the curve can cost,
  known before either starts. A schedule its user set
  (`AccuracySettings.grow_schedule` False) is not searched: the curve runs
  on it and the check after it judges it against the target, with a
  warning where a point misses.
- **A signal on the user's images** (`schedule_step`,
  `measure_user_images`): after a search, the change in forward log Ẑ
  on the curve's first few images (`USER_IMAGES`) between the last two
  schedules the search tried (or, when it tried one, that schedule
  halved), at the RD point nearest each checked β, paired: the same
  images, seed and chains on both. It speaks of the user's own images
  where the gap speaks of simulated ones, and it is an indication, not a
  bound (`USER_IMAGES_EXPLANATION`): a small change is necessary for a
  converged curve, not sufficient. Its forward run counts in the
  check's cost (`add_user_images`).

Cost invariant: the check's decoder gradients are at most
`max_cost_fraction` (½) of the curve's, whenever the number of simulated
images is left to `plan_check` and the curve has enough images for the
fewest it takes (`MIN_CHECK_IMAGES` with a target, which judges a gap;
one without): a smaller curve pays more for its check, and `describe`
warns when the check costs more than the curve (`tfrd.passes` gives both
costs;
`tfrd.passes` gives both costs; a BDMC point costs each chain a
forward run, two passes with two-pass step sizes, and one frozen reverse
pass over the schedule up to its β). `tests/test_accuracy.py` checks the
plan's cost against the gradients the runs report, the search on a
decoder whose gap needs a longer schedule, and the warnings.
"""

import collections
import hashlib
import json
import math
import os
import time

import numpy as np

from tfrd import ais as ais_lib
from tfrd import bdmc as bdmc_lib
from tfrd import distortions as distortions_lib
from tfrd import files
from tfrd import passes as passes_lib
from tfrd import randomness
from tfrd import schedules as schedules_lib
from tfrd import settings as settings_lib

__all__ = ['CheckPlan', 'ScheduleSearch', 'SearchReach', 'ScheduleStep',
           'EXPLANATION', 'USER_IMAGES_EXPLANATION', 'MAX_AUTO_IMAGES',
           'MIN_CHECK_IMAGES', 'STDERR_MARGIN', 'USER_IMAGES',
           'ACCEPT_RANGE', 'MIN_EFFECTIVE_SAMPLE_SIZE', 'check_betas',
           'schedule_holding', 'curve_decoder_gradients',
           'check_decoder_gradients', 'plan_check', 'point_record',
           'lengthened', 'halved', 'search_reach', 'settle_schedule',
           'schedule_step', 'user_image_change', 'measure_user_images',
           'add_user_images', 'run_warnings', 'gap_warnings',
           'describe', 'cost_warnings', 'judged_gap', 'within_target',
           'estimate_rd_curve_checked', 'is_search_record',
           'SCHEDULE_BASE_SHARE', 'SPEED_POINTS', 'SPEED_FIRST_IMAGE',
           'speed_schedule',
           'measure_speed', 'adapted_schedule', 'gap_text']

# What a user reads beside the gaps (printed and in curve.json).
EXPLANATION = (
    'The BDMC gap at a beta is the width of a bracket [forward AIS lower '
    'bound, reverse AIS upper bound] on log Z_beta of images simulated from '
    'the decoder at that beta, run on the curve\'s own schedule, chains and '
    'HMC settings. It bounds (in expectation) how far log Z, hence the rate, '
    'of such simulated images is from the truth at the curve\'s schedule: '
    'too high by at most about the gap. On your own images it is an '
    'indication, not a bound: the check does not bracket your curve. A '
    'target is met when every mean gap plus two standard errors, on at '
    'least 4 simulated images, is within it. A gap above the target says '
    'the schedule is too short for this decoder: a longer one '
    '(--target_gap, --num_intermediate) tightens it.')

# What a user reads beside the change on their own images (printed and in
# curve.json's accuracy.user_images).
USER_IMAGES_EXPLANATION = (
    'The change in forward log Z-hat on a few of your own images between '
    'the last two schedules the search tried (the same images, seed and '
    'chains on both) says how much the curve at a beta still moves with '
    'the schedule. It is an indication, not a bound: a longer schedule '
    'raises log Z-hat toward log Z in expectation, so a change of several '
    'standard errors says the curve there is still moving, and the settled '
    'schedule may be short for your images; a small change is necessary '
    'for a converged curve, not sufficient (two schedules can be equally '
    'far from the truth).')

# The user's images the schedule-change signal runs on again (the curve's
# first ones, at most this many): a few give a paired mean and standard
# error, at a fraction of the curve's cost.
USER_IMAGES = 4

# Images simulated per point when the cost rule chooses: a few images give
# the gap's mean and standard error; more would mostly cost.
MAX_AUTO_IMAGES = 8

# The fewest images per point that judge a target gap, and the fewest the
# cost rule chooses when there is a target (`tfrd.settings`).
MIN_CHECK_IMAGES = settings_lib.MIN_CHECK_IMAGES

# A point meets the target when its mean gap plus this many standard errors
# does: the measured mean alone would call a gap met half the time it is
# truly at the target.
STDERR_MARGIN = 2.0

# HMC acceptance outside this range at an RD point is reported: below, the
# chains barely move; above, the steps are too small to explore.
ACCEPT_RANGE = (0.25, 0.95)

# Median effective sample size of the AIS weights, per point, at or below
# which the weights count as collapsed (one chain carries the estimate).
MIN_EFFECTIVE_SAMPLE_SIZE = 1.5

# The share of an adapted schedule's transitions, and of their placement,
# kept from the base schedule (`tfrd.schedules.thermodynamic_schedule`):
# placing all of them by thermodynamic length leaves the stretch below the
# first RD point, where Var_β[d] is small but the chains must still leave
# the prior, a handful of transitions. On the deep 64-d MLP at the default
# schedule a quarter kept cut the equilibrium log-weight variance 1.8-fold,
# all by length 1.7-fold (docs/accuracy.md).
SCHEDULE_BASE_SHARE = 0.25

# Points along the schedule (chunk ends, no chunk added) where
# `measure_speed` reads Var_β[d], at most.
SPEED_POINTS = 256

# The first simulated image of the search's speed measurement: beyond every
# image its attempts ([0, K)) and verdicts ([K, 2K), [2K, 3K), ...) use.
SPEED_FIRST_IMAGE = 2 ** 20

_SEARCH_FORMAT = 'tfrd.schedule_search/1'


class CheckPlan(
    collections.namedtuple('CheckPlan', [
        'betas', 'num_images', 'decoder_gradients',
        'curve_decoder_gradients'])):
  """What a curve's BDMC check will do and cost.

  Attributes:
    betas: [K] increasing inverse temperatures checked (empty: no check).
    num_images: images simulated at each.
    decoder_gradients: the check's decoder gradient evaluations, all chains.
    curve_decoder_gradients: the curve's, all chains and passes.
  """
  __slots__ = ()

  @property
  def cost_fraction(self):
    """The check's decoder gradients over the curve's."""
    return self.decoder_gradients / max(self.curve_decoder_gradients, 1)


class ScheduleSearch(
    collections.namedtuple('ScheduleSearch', [
        'schedule_settings', 'schedule', 'attempts', 'status', 'check',
        'verification', 'speed'], defaults=(None,))):
  """Where `settle_schedule` ended.

  Attributes:
    schedule_settings: the settled `ScheduleSettings` (the curve's).
    schedule: its `AnnealingSchedule`.
    attempts: one JSON-serializable dict per schedule tried, in order:
      num_intermediate, num_transitions, points (`point_record`s),
      decoder_gradients, wall_time_s, within_target.
    status: 'met' (every point `within_target`), 'capped' (the next schedule
      would pass the cap: the longest one tried is kept) or 'checked' (no
      target: one attempt).
    check: the `point_record`s that are the curve's check: the
      verification's, or without one the last attempt's.
    verification: None (no target), or the settled schedule's check
      measured again on fresh simulated images (image indices after those
      the attempts used), a dict like an attempt's with `first_image`:
      the measurement that stopped the search is biased low (it was
      chosen for being within the target), a fresh one is not. The
      curve's gaps and verdict are this one's.
    speed: None, or the measurement of Var_β[d] (`measure_speed`) every
      schedule the search tried was re-spaced by (`adapted_schedule`),
      the settled one included.
  """
  __slots__ = ()

  @property
  def decoder_gradients(self):
    """The whole search's decoder gradients: every attempt's check, the
    verification and the speed measurement."""
    measured = self.attempts + (
        [] if self.verification is None else [self.verification]) + (
            [] if self.speed is None else [self.speed])
    return int(sum(attempt['decoder_gradients'] for attempt in measured))

  @property
  def cost_fraction(self):
    """The whole search's decoder gradients over the settled curve's (not
    the last attempt's alone: a search of two schedules costs both)."""
    return self.decoder_gradients / max(
        self.attempts[-1]['curve_decoder_gradients'], 1)


class SearchReach(
    collections.namedtuple('SearchReach', [
        'target_gap', 'num_intermediates', 'check_decoder_gradients',
        'verification_decoder_gradients', 'curve_decoder_gradients',
        'user_images_decoder_gradients', 'least_decoder_gradients',
        'speed_decoder_gradients'], defaults=(0,))):
  """How far `settle_schedule` may go, in schedules and decoder gradients,
  known before it starts (`search_reach`).

  Attributes:
    target_gap: the target, in nats.
    num_intermediates: every base schedule the search may try: the first,
      then it doubled, 4 times, ... up to `max_num_intermediate` (the
      schedules it tries are among these: each is the first times a power
      of two).
    check_decoder_gradients: the check's decoder gradients at each of them.
    verification_decoder_gradients: the fresh check of the longest.
    curve_decoder_gradients: the curve on the longest.
    user_images_decoder_gradients: the signal on the user's images
      (`measure_user_images`): their forward run on the schedule before the
      longest.
    least_decoder_gradients: the same total when the first schedule meets
      the target: its check twice, its curve, the signal's run on it
      halved and the speed measurement.
    speed_decoder_gradients: the measurement of Var_β[d] on the first
      schedule (`measure_speed`; 0 without `adapt_schedule`).
  """
  __slots__ = ()

  @property
  def decoder_gradients(self):
    """The most the search and the curve can cost: a check at every
    schedule, the fresh check and the curve at the longest, the signal's
    run and the speed measurement."""
    return int(sum(self.check_decoder_gradients) +
               self.verification_decoder_gradients +
               self.curve_decoder_gradients +
               self.user_images_decoder_gradients +
               self.speed_decoder_gradients)


class ScheduleStep(
    collections.namedtuple('ScheduleStep', ['previous', 'settled',
                                            'halved', 'speed'],
                           defaults=(None,))):
  """The last step of a schedule search, which the signal on the user's
  images measures (`schedule_step`).

  Attributes:
    previous: the `ScheduleSettings` compared with the settled one: the
      search's last attempt but one, or without one the settled schedule
      halved (`halved`).
    settled: the settled `ScheduleSettings` (the curve's).
    halved: whether `previous` is the settled schedule halved (the search
      tried one schedule).
    speed: None, or the search's `measure_speed` record: both schedules
      are then re-spaced by it (`adapted_schedule`), as the search ran
      them.
  """
  __slots__ = ()


def check_betas(distortion, schedule, betas=None):
  """The β a check measures on `schedule`.

  Args:
    distortion: a `tfrd.Distortion` or its name.
    schedule: the curve's `AnnealingSchedule`.
    betas: None for the default points (the lowest RD β, 1 if within the
      schedule, and the highest; only β = 1 where the distortion can be
      simulated there alone), or the points asked for.

  Returns:
    Increasing float64 array; each β within 1e-9 of one of the schedule's
    takes the schedule's value.

  Raises:
    ValueError: for points beyond the schedule, or a distortion that cannot
      be simulated at one of them (with what to do).
  """
  distortion = distortions_lib.get_distortion(distortion)
  rd_betas = schedule.betas[schedule.rd_indices]
  beta_max = float(schedule.betas[-1])
  if betas is None:
    points = [beta for beta in bdmc_lib.default_bdmc_betas(
        distortion, beta_min=float(rd_betas[0]), beta_max=beta_max)
              if beta <= beta_max]
  else:
    points = sorted({float(beta) for beta in betas})
    if not all(math.isfinite(beta) and 0 < beta <= beta_max * (1 + 1e-12)
               for beta in points):
      raise ValueError(
          f'BDMC points must be positive and at most {beta_max:g} (the '
          f'largest beta of the curve\'s schedule), got '
          f'{",".join(f"{beta:g}" for beta in points)}.')
  for beta in points:
    try:
      bdmc_lib._check_channel(distortion, beta)  # pylint: disable=protected-access
    except ValueError as error:
      raise ValueError(f'beta = {beta:g}: {error}') from None
  nearest = [schedule.betas[np.argmin(np.abs(schedule.betas - beta))]
             for beta in points]
  # A β typed as the schedule's (0.1 of a geometric schedule, say) takes its
  # exact value rather than adding a second temperature next to it.
  return np.array(sorted({
      float(near) if math.isclose(beta, near, rel_tol=1e-9) else beta
      for beta, near in zip(points, nearest)}), dtype=np.float64)


def schedule_holding(schedule, betas):
  """`schedule` with `betas` added as RD points where missing.

  `tfrd.truncate_schedule` of the result at a point is the curve's own
  schedule up to that point (plus the point itself and any lower points
  when they are not among the curve's temperatures).
  """
  all_betas = np.union1d(schedule.betas, betas)
  rd_betas = np.union1d(schedule.betas[schedule.rd_indices], betas)
  return schedules_lib.AnnealingSchedule(
      all_betas, np.searchsorted(all_betas, rd_betas))


def _hessian_gradients(schedule, latent_dim, chains):
  """The Hessian mass matrix's gradients per chain (0 if D is unknown)."""
  if latent_dim is None:
    return 0
  return ais_lib.hessian_decoder_gradients(schedule, latent_dim, chains)


def curve_decoder_gradients(schedule, num_images, chains, latent_dim=None):
  """A curve's decoder gradient evaluations, all chains and passes (and,
  given the code size D, the Hessian mass matrix's rows)."""
  hmc = chains.hmc
  return int(num_images) * chains.num_chains * (
      passes_lib.decoder_gradients_per_chain(
          schedule.num_transitions, hmc.num_leapfrog_steps,
          hmc.step_size_mode, chains.step_size_table is not None) +
      _hessian_gradients(schedule, latent_dim, chains))


def check_decoder_gradients(schedule, betas, num_images, chains,
                            latent_dim=None):
  """A check's decoder gradient evaluations: at each β, every chain of each
  image runs forward AIS (its passes, and given D its Hessian rows) and one
  frozen reverse pass."""
  hmc = chains.hmc
  full = schedule_holding(schedule, betas)
  total = 0
  for beta in betas:
    truncated = bdmc_lib.truncate_schedule(full, beta)
    transitions = truncated.num_transitions
    total += passes_lib.decoder_gradients_per_chain(
        transitions, hmc.num_leapfrog_steps, hmc.step_size_mode) + (
            passes_lib.decoder_gradients_per_chain(
                transitions, hmc.num_leapfrog_steps, 'fixed')) + (
                    _hessian_gradients(truncated, latent_dim, chains))
  return int(num_images) * chains.num_chains * total


def plan_check(distortion, schedule, num_curve_images, chains, accuracy,
               latent_dim=None):
  """The check of a curve on `schedule`: its points, images and cost.

  Args:
    distortion: a `tfrd.Distortion` or its name.
    schedule: the curve's `AnnealingSchedule`.
    num_curve_images: the curve's number of images.
    chains: the curve's `ChainSettings`.
    accuracy: `AccuracySettings`.
    latent_dim: the code size D, to count the Hessian mass matrix's rows
      (a few percent of a full-size run, most of a tiny one); None before
      the decoder is loaded, which counts the transitions only.

  Returns:
    A `CheckPlan` (no points when `accuracy.betas` is ()).

  Raises:
    ValueError: as `check_betas` does.
  """
  curve_cost = curve_decoder_gradients(schedule, num_curve_images, chains,
                                       latent_dim)
  if not accuracy.enabled:
    return CheckPlan(np.zeros([0]), 0, 0, curve_cost)
  betas = check_betas(distortion, schedule, accuracy.betas)
  per_image = check_decoder_gradients(schedule, betas, 1, chains, latent_dim)
  num_images = accuracy.num_images
  if num_images is None:
    affordable = int(accuracy.max_cost_fraction * curve_cost // per_image)
    # Fewer images cannot judge a target: a small curve pays for the
    # minimum then (and `describe` warns when that outgrows the curve).
    least = 1 if accuracy.target_gap is None else MIN_CHECK_IMAGES
    num_images = min(MAX_AUTO_IMAGES, max(least, affordable))
  return CheckPlan(betas, num_images, num_images * per_image, curve_cost)


def point_record(result, chains, in_schedule, per_image=False):
  """The record of one `tfrd.BDMCResult`, wherever a BDMC point is written
  (curve.json's `bdmc`, bdmc.json's points, the schedule search).

  Args:
    result: the `tfrd.BDMCResult`.
    chains: the `ChainSettings` it ran with.
    in_schedule: whether its β is one of the curve's temperatures.
    per_image: add the per-image bounds and the forward curve.

  Returns:
    A JSON-serializable dict: beta, mean_gap (upper minus lower bound on log
    Z_β, averaged over images), max_gap, gap_stderr (`BDMCResult`'s: the
    larger of gap_stderr_images and gap_stderr_chains, also recorded;
    each None, JSON null, where it does not exist), mean_lower,
    mean_upper, num_images, the forward chains' rate and distortion at β,
    transitions, acceptance, decoder gradients per chain and in all,
    wall time and settings.
  """
  forward = result.forward.estimates[-1]
  hmc = chains.hmc
  num_images = int(np.size(result.gap))
  record = {
      'beta': float(result.beta),
      'mean_gap': result.mean_gap,
      'max_gap': result.max_gap,
      # None (JSON null) where no standard error exists, never 0.
      'gap_stderr': result.gap_stderr,
      'gap_stderr_images': result.gap_stderr_images,
      'gap_stderr_chains': result.gap_stderr_chains,
      'mean_lower': result.mean_lower,
      'mean_upper': result.mean_upper,
      'num_images': num_images,
      'forward_rate': float(np.mean(forward.rate)),
      'forward_distortion': float(np.mean(forward.distortion)),
      'num_transitions': int(result.num_transitions),
      'forward_accept_rate': float(result.forward.accept_rates[-1]),
      'reverse_accept_rate': float(result.reverse_accept_rate),
      'decoder_gradients_per_chain': int(result.num_decoder_gradients),
      'decoder_gradients': int(result.num_decoder_gradients) * num_images *
                           int(chains.num_chains),
      'wall_time_s': float(sum(result.wall_time_s.values())),
      'settings': {
          'num_chains': int(chains.num_chains),
          'num_leapfrog_steps': int(hmc.num_leapfrog_steps),
          'step_size_mode': hmc.step_size_mode,
          'mass_matrix': hmc.mass_matrix,
          'reverse_step_sizes': 'the forward run\'s table, frozen',
          'seed': int(chains.seed),
          'seeds': 'derived from (seed, beta) by tfrd.bdmc.bdmc_at_points',
          'jit_compiled': bool(result.forward.jit_compiled),
          'schedule': 'the curve\'s schedule truncated at beta',
          'beta_in_curve_schedule': bool(in_schedule),
          'simulation': ('z ~ p(z); x from exp(-beta d(x, f(z))) normalized '
                         '(tfrd.bdmc.simulate_data)'),
      },
  }
  if per_image:
    record.update({
        'lower_per_image': result.lower.tolist(),
        'upper_per_image': result.upper.tolist(),
        'gap_per_image': result.gap.tolist(),
        'forward_curve': {
            'beta': result.forward.betas.tolist(),
            'rate': [float(np.mean(e.rate))
                     for e in result.forward.estimates],
            'distortion': [float(np.mean(e.distortion))
                           for e in result.forward.estimates],
        },
        'wall_time_by_phase_s': {
            phase: float(seconds)
            for phase, seconds in result.wall_time_s.items()},
    })
  return record


def judged_gap(record):
  """The gap a point is judged on: its mean gap plus `STDERR_MARGIN`
  standard errors (None without a mean gap; the mean alone without a
  standard error)."""
  if record.get('mean_gap') is None:
    return None
  return record['mean_gap'] + STDERR_MARGIN * (record.get('gap_stderr') or
                                                0.0)


def within_target(record, target_gap):
  """Whether a point meets `target_gap`: its mean gap plus `STDERR_MARGIN`
  standard errors is at most the target, measured on at least
  `MIN_CHECK_IMAGES` simulated images.

  The margin makes "met" hold beyond the gap's noise rather than half the
  time a gap is truly at the target; fewer images, or a point without a
  standard error, never meet a target.

  Args:
    record: a `point_record` (or curve.json's `accuracy.gaps` entry with
      `num_images`).
    target_gap: the target, in nats.

  Returns:
    bool.
  """
  return bool(record.get('mean_gap') is not None and
              record.get('gap_stderr') is not None and
              (record.get('num_images') or 0) >= MIN_CHECK_IMAGES and
              judged_gap(record) <= target_gap)


def lengthened(schedule_settings, factor):
  """`schedule_settings` with its base schedule and fills `factor` times
  longer (the RD points stay where they are)."""
  return schedule_settings._replace(
      num_intermediate=schedule_settings.num_intermediate * factor,
      min_before_first=schedule_settings.min_before_first * factor,
      min_between=schedule_settings.min_between * factor)


def halved(schedule_settings):
  """`schedule_settings` with its base schedule and fills half as long (the
  RD points stay where they are); `lengthened`'s inverse for even sizes.

  Raises:
    ValueError: for a base schedule of one distribution.
  """
  return schedule_settings._replace(
      num_intermediate=schedule_settings.num_intermediate // 2,
      min_before_first=schedule_settings.min_before_first // 2,
      min_between=schedule_settings.min_between // 2)


def _user_image_count(num_curve_images):
  return min(USER_IMAGES, int(num_curve_images))


def search_reach(distortion, schedule_settings, num_curve_images, chains,
                 accuracy, latent_dim=None):
  """The most `settle_schedule` and the curve after it can cost.

  The search tries the first schedule, then longer ones by powers of two
  up to `accuracy.max_num_intermediate`; at worst it tries every doubling,
  settles on the longest, checks it again on fresh images, the curve runs
  on it and the signal on the user's images runs the schedule before it.
  The costs are `plan_check`'s and `curve_decoder_gradients`', the rules
  of the runs themselves.

  Args:
    distortion: a `tfrd.Distortion` or its name.
    schedule_settings: the `ScheduleSettings` of the first attempt.
    num_curve_images: the curve's number of images.
    chains: the curve's `ChainSettings`.
    accuracy: `AccuracySettings` with a check and a target.
    latent_dim: the code size D (the Hessian's rows), or None.

  Returns:
    A `SearchReach`.

  Raises:
    ValueError: as `check_betas` does.
  """
  sizes = [schedule_settings.num_intermediate]
  while sizes[-1] * 2 <= accuracy.max_num_intermediate:
    sizes.append(sizes[-1] * 2)
  plans = [plan_check(
      distortion, schedules_lib.schedule_from_settings(
          lengthened(schedule_settings, size // sizes[0])),
      num_curve_images, chains, accuracy, latent_dim) for size in sizes]
  images = _user_image_count(num_curve_images)

  def signal(settings, attempts):
    step = schedule_step(settings, attempts)
    return 0 if step is None else curve_decoder_gradients(
        schedules_lib.schedule_from_settings(step.previous), images, chains,
        latent_dim)

  first = schedule_settings
  longest = lengthened(first, sizes[-1] // sizes[0])
  tried = [{'num_intermediate': size,
            'min_before_first': first.min_before_first * size // sizes[0],
            'min_between': first.min_between * size // sizes[0]}
           for size in sizes]
  speed = 0
  if accuracy.adapt_schedule:
    # One adaptive pass on as many simulated images as the first check.
    speed = curve_decoder_gradients(
        schedules_lib.schedule_from_settings(first), plans[0].num_images,
        chains._replace(hmc=chains.hmc._replace(step_size_mode='adaptive'),
                        step_size_table=None), latent_dim)
  return SearchReach(
      target_gap=accuracy.target_gap, num_intermediates=tuple(sizes),
      check_decoder_gradients=tuple(
          int(plan.decoder_gradients) for plan in plans),
      verification_decoder_gradients=int(plans[-1].decoder_gradients),
      curve_decoder_gradients=int(plans[-1].curve_decoder_gradients),
      user_images_decoder_gradients=int(signal(longest, tried)),
      least_decoder_gradients=int(
          2 * plans[0].decoder_gradients + plans[0].curve_decoder_gradients +
          signal(first, tried[:1]) + speed),
      speed_decoder_gradients=int(speed))


def _next_factor(records, target_gap):
  """The power of two (at least 2) by which to lengthen the schedule: the
  smallest at or above the worst judged gap's (`judged_gap`) ratio to the
  target.

  On the 1/T law of long schedules that ratio would just suffice; shorter
  ones tighten faster (the deep 64-d MLP of docs/accuracy.md went from 3.73
  to 0.49 nats for 4 times the schedule), and a prediction that falls
  short costs one more attempt.
  """
  worst = max(judged_gap(record) / target_gap for record in records)
  return 2 ** max(1, math.ceil(math.log2(max(worst, 2.0))))


def _search_key(decoder, distortion, schedule_settings, prior, chains,
                accuracy, num_curve_images):
  """What a saved search must match to be reused (weights, settings)."""
  from tfrd import checkpointing  # pylint: disable=g-import-not-at-top
  settings = {
      'distortion': distortion.get_config(),
      'schedule': schedule_settings._asdict(),
      'prior': checkpointing.describe_parameters(prior),
      'chains': [chains.num_chains, chains.seed, chains.hmc._asdict(),
                 chains.decoder_dtype],
      # Not whether the schedule may grow: a search runs only when it
      # may, and records kept before the field existed stay valid (so do
      # those of unadapted schedules, made before adaptation existed).
      'accuracy': {key: value for key, value in accuracy._asdict().items()
                   if key != 'grow_schedule' and not (
                       key == 'adapt_schedule' and not value)},
      'num_curve_images': int(num_curve_images),
  }
  components = checkpointing.fingerprint(
      decoder, np.zeros([0]), schedules_lib.AnnealingSchedule([0.0, 1.0], [1]),
      settings)
  return hashlib.sha256(json.dumps(components, sort_keys=True).encode()
                        ).hexdigest()[:24]


def is_search_record(path):
  """Whether `path` is a record `settle_schedule` wrote (which it may
  replace); anything else there is someone else's."""
  try:
    with open(path) as stream:
      return json.load(stream).get('format') == _SEARCH_FORMAT
  except (OSError, ValueError, AttributeError):
    return False


def _read_search(path, key):
  """The saved search of `key` at `path`: (attempts, verification or
  None, speed or None); nothing for another key or no record."""
  if not path or not os.path.exists(path):
    return [], None, None
  try:
    with open(path) as stream:
      document = json.load(stream)
  except (OSError, ValueError):
    return [], None, None
  if document.get('format') != _SEARCH_FORMAT or document.get('key') != key:
    return [], None, None
  return (document.get('attempts', []), document.get('verification'),
          document.get('speed'))


def _write_search(path, key, attempts, status=None, verification=None,
                  speed=None):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with files.atomic_write(path) as stream:
    json.dump({'format': _SEARCH_FORMAT, 'key': key, 'status': status,
               'attempts': attempts, 'verification': verification,
               'speed': speed}, stream, indent=1)
    stream.write('\n')


def speed_schedule(schedule):
  """`schedule` with RD points at up to `SPEED_POINTS` of its chunk ends
  besides its own: where `measure_speed` reads Var_β[d] (no chunk is
  added, so the measuring pass runs as the schedule's own would)."""
  ends = ais_lib.chunk_boundaries(schedule)
  chosen = np.unique(np.round(np.linspace(
      0, ends.size - 1, min(SPEED_POINTS, ends.size))).astype(np.int64))
  return schedules_lib.AnnealingSchedule(
      schedule.betas, np.union1d(ends[chosen], schedule.rd_indices))


def measure_speed(decoder, distortion, schedule, prior, chains,
                  image_indices, control=None):
  """Var_β[d] along `schedule`: the speed by which `adapted_schedule`
  re-spaces it, measured on images simulated from the decoder.

  The images are those the check simulates at the schedule's last β
  (`tfrd.bdmc.bdmc_on_images`: the same seed, here the given image
  indices). One adaptive AIS pass (`step_size_mode='adaptive'`, the
  curve's chains and mass matrix otherwise) reads at every point of
  `speed_schedule` each image's weighted variance of d over its chains
  (`RDEstimate.distortion_variance`), averaged over the images. It depends
  on the decoder, the settings and the seed alone, never on the user's
  images, so a curve on the adapted schedule does not depend on how its
  images are batched or sharded.

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion`.
    schedule: the `AnnealingSchedule` to measure along (the search's first).
    prior: TFP prior with event shape [D].
    chains: the curve's `ChainSettings` (no step-size table).
    image_indices: int [K], the simulated images' indices.
    control: a `RunControl` (progress, stop), or None.

  Returns:
    A JSON-serializable dict: betas and variances (the measurement),
    image_indices, num_transitions, decoder_gradients (the pass's, all
    chains, as the run reports them) and wall_time_s.

  Raises:
    tfrd.RunInterrupted: `control.stop` was set.
  """
  start = time.time()
  beta = float(schedule.betas[-1])
  image_indices = np.asarray(image_indices, np.int64)
  simulated = bdmc_lib.simulate_data(
      decoder, distortion, beta, image_indices.size,
      seed=randomness.point_seed(chains.seed, 'simulation', beta),
      prior=prior, image_indices=image_indices,
      decoder_dtype=chains.decoder_dtype)
  measuring = chains._replace(
      seed=randomness.point_seed(chains.seed, 'speed', beta),
      hmc=chains.hmc._replace(step_size_mode='adaptive'),
      step_size_table=None)
  points = speed_schedule(schedule)
  control = settings_lib.RunControl() if control is None else control
  progress = control.progress
  if progress is not None:
    control = control._replace(progress=lambda update: progress(
        update._replace(phase=f'schedule speed {update.phase}')))
  run = ais_lib.run_ais(
      decoder, simulated.x, distortion, points, prior=prior,
      image_indices=image_indices, chains=measuring,
      control=control._replace(checkpoint_dir=None, strategy=None))
  return {
      'betas': [float(beta) for beta in points.betas[points.rd_indices]],
      'variances': [float(np.mean(estimate.distortion_variance))
                    for estimate in run.estimates],
      'image_indices': [int(index) for index in image_indices],
      'num_transitions': int(schedule.num_transitions),
      'decoder_gradients': int(run.num_decoder_gradients) *
                           image_indices.size * measuring.num_chains,
      'wall_time_s': time.time() - start,
  }


def adapted_schedule(schedule_settings, speed):
  """The schedule of `schedule_settings`, re-spaced by the measured
  `speed` (`tfrd.schedules.thermodynamic_schedule`, keeping
  `SCHEDULE_BASE_SHARE` of the base), or as it is when `speed` is None."""
  schedule = schedules_lib.schedule_from_settings(schedule_settings)
  if speed is None:
    return schedule
  return schedules_lib.thermodynamic_schedule(
      schedule, speed['betas'], speed['variances'], SCHEDULE_BASE_SHARE)


def settle_schedule(decoder, distortion, schedule_settings, prior, chains,
                    accuracy, num_curve_images, control=None,
                    record_path=None):
  """The schedule a curve should run on to meet `accuracy.target_gap`.

  Runs the curve's check (`plan_check`) on the schedule of
  `schedule_settings`; while a point is not within the target
  (`within_target`: mean gap plus two standard errors),
  lengthens the schedule (`lengthened`, by a power of two predicted from the
  worst gap) and checks again, until every gap is within the target or the
  next schedule's `num_intermediate` would pass
  `accuracy.max_num_intermediate` (then the longest schedule tried is
  kept). With a target, the schedule that met it is then checked again on
  fresh simulated images (`ScheduleSearch.verification`), which are the
  curve's check and verdict; when the fresh images miss the target, the
  search goes on from their gaps, and each later verdict takes images no
  measurement has used. Without a target it checks once.

  With `accuracy.adapt_schedule` (and a target), the distortion's variance
  along the first schedule is measured once first (`measure_speed`, on
  simulated images from `SPEED_FIRST_IMAGE` on), and every schedule tried,
  the settled one included, is re-spaced by it (`adapted_schedule`).

  Args:
    decoder: callable latents [B, D] -> outputs [B, ...].
    distortion: a `tfrd.Distortion` or its name.
    schedule_settings: the `ScheduleSettings` of the first attempt.
    prior: TFP prior with event shape [D].
    chains: the curve's `ChainSettings` (no step-size table).
    accuracy: `AccuracySettings` with a check (`enabled`).
    num_curve_images: the curve's images (the check's cost rule).
    control: a `RunControl` for the BDMC runs (progress, stop), or None.
    record_path: None, or a JSON file to keep the attempts in: written
      after each one, and read at the start, when an earlier run with the
      same decoder weights and settings left one, so a resumed run does
      not measure again what it measured. A file there that is not such a
      record is refused, never replaced.

  Returns:
    A `ScheduleSearch`.

  Raises:
    ValueError: for points the distortion cannot simulate, or settings
      whose schedule may not grow (`accuracy.grow_schedule` False: its
      check runs after the curve, on the schedule as given).
    tfrd.RunInterrupted: `control.stop` was set (the finished attempts are
      in `record_path`).
  """
  if not accuracy.grow_schedule:
    raise ValueError('grow_schedule=False: the schedule given is checked as '
                     'it is, after the curve, not searched.')
  distortion = distortions_lib.get_distortion(distortion)
  chains = chains._replace(step_size_table=None)
  target = accuracy.target_gap
  if record_path and os.path.lexists(record_path) and not is_search_record(
      record_path):
    raise ValueError(f'{record_path} is not a schedule search record tfrd '
                     f'wrote; move it away or choose another record path.')
  key = _search_key(decoder, distortion, schedule_settings, prior, chains,
                    accuracy, num_curve_images)
  saved, saved_verification, speed = _read_search(record_path, key)
  latent_dim = int(prior.event_shape[-1])
  first_plan = plan_check(
      distortion, schedules_lib.schedule_from_settings(schedule_settings),
      num_curve_images, chains, accuracy, latent_dim)
  speed_images = SPEED_FIRST_IMAGE + np.arange(first_plan.num_images)
  if not (accuracy.adapt_schedule and target is not None):
    speed = None
  elif speed is None or speed.get('image_indices') != speed_images.tolist():
    # A new measurement re-spaces every schedule: nothing measured on the
    # old ones counts.
    saved, saved_verification = [], None
    speed = measure_speed(
        decoder, distortion,
        schedules_lib.schedule_from_settings(schedule_settings), prior,
        chains, speed_images, control)
    if record_path:
      _write_search(record_path, key, [], speed=speed)
  # Every measurement in order: the search's on its own images, and each
  # verdict on fresh ones that failed (the search goes on from it).
  attempts = []
  verification = None
  settings = schedule_settings
  verdicts = 0
  while True:
    schedule = adapted_schedule(settings, speed)
    plan = plan_check(distortion, schedule, num_curve_images, chains,
                      accuracy, latent_dim)

    def measured(first_image):
      index = len(attempts)
      if (index < len(saved) and
          saved[index]['num_intermediate'] == settings.num_intermediate and
          saved[index].get('first_image', 0) == first_image):
        return saved[index]
      if (first_image and saved_verification is not None and
          index == len(saved) and
          saved_verification['num_intermediate'] ==
          settings.num_intermediate and
          saved_verification.get('first_image') == first_image):
        return saved_verification
      # pylint: disable=cell-var-from-loop
      return _attempt(decoder, distortion, settings, schedule, plan, prior,
                      chains, control, target, first_image)

    attempt = measured(0)
    attempts.append(attempt)
    if record_path:
      _write_search(record_path, key, attempts, speed=speed)
    if target is None:
      status = 'checked'
      break
    longest = accuracy.max_num_intermediate // settings.num_intermediate
    judged = attempt
    if attempt['within_target'] or longest < 2:
      # The attempt that stopped the search was chosen for meeting the
      # target, so its gaps lean low: the curve's check is the schedule
      # measured again on images no measurement has used, the verdict.
      verdicts += 1
      verification = measured(verdicts * plan.num_images)
      judged = verification
      if verification['within_target']:
        status = 'met'
        break
      if longest < 2:
        status = 'capped'
        break
      # Fresh images found the schedule too short: lengthen from them.
      attempts.append(verification)
      verification = None
      if record_path:
        _write_search(record_path, key, attempts, speed=speed)
    factor = _next_factor(judged['points'], target)
    # Powers of two only, so every schedule tried is the first one doubled.
    factor = min(factor, 2 ** int(math.log2(longest)))
    settings = lengthened(settings, factor)
  if record_path:
    _write_search(record_path, key, attempts, status, verification, speed)
  check = (attempts[-1] if verification is None else verification)['points']
  return ScheduleSearch(settings, schedule, attempts, status, check,
                        verification, speed)


def _attempt(decoder, distortion, settings, schedule, plan, prior, chains,
             control, target, first_image):
  """One attempt of `settle_schedule`: the check on one schedule, on the
  simulated images from index `first_image` on (0: the search's; after
  them: the verification's fresh ones)."""
  start = time.time()
  progress = None if control is None else control.progress
  if progress is not None:
    label = (f'{"fresh " if first_image else ""}check at '
             f'N={settings.num_intermediate}')
    control = control._replace(progress=lambda update: progress(
        update._replace(phase=f'{label} {update.phase}')))
  holding = schedule_holding(schedule, plan.betas)
  if first_image:
    results = bdmc_lib.bdmc_on_images(
        decoder, distortion, plan.betas,
        first_image + np.arange(plan.num_images), prior, holding, chains,
        control)
  else:
    results = bdmc_lib.bdmc_at_points(
        decoder, distortion, plan.betas, num_images=plan.num_images,
        latent_dim=int(prior.event_shape[-1]), prior=prior,
        schedule=holding, chains=chains, control=control)
  points = [point_record(result, chains, result.beta in schedule.betas)
            for result in results]
  return {
      'num_intermediate': settings.num_intermediate,
      'first_image': int(first_image),
      'min_before_first': settings.min_before_first,
      'min_between': settings.min_between,
      'num_transitions': int(schedule.num_transitions),
      'points': points,
      'decoder_gradients': int(sum(point['decoder_gradients']
                                   for point in points)),
      'curve_decoder_gradients': plan.curve_decoder_gradients,
      'wall_time_s': time.time() - start,
      'within_target': bool(target is not None and all(
          within_target(point, target) for point in points)),
  }


def schedule_step(schedule_settings, attempts, speed=None):
  """The last step of a schedule search: the schedules the signal on the
  user's images compares.

  Args:
    schedule_settings: the settled `ScheduleSettings` (the last attempt's).
    attempts: the search's attempts in order (`ScheduleSearch.attempts`,
      or curve.json's `accuracy.search.attempts`): dicts with
      num_intermediate, min_before_first and min_between.
    speed: the search's `measure_speed` record, or None (`ScheduleStep`).

  Returns:
    A `ScheduleStep`: from the last attempt but one, or, when the search
    tried one schedule, from that schedule halved; None when it cannot be
    halved (a base schedule of one distribution).
  """
  if len(attempts) >= 2:
    previous = attempts[-2]
    return ScheduleStep(schedule_settings._replace(
        num_intermediate=previous['num_intermediate'],
        min_before_first=previous['min_before_first'],
        min_between=previous['min_between']), schedule_settings, False,
                        speed)
  if schedule_settings.num_intermediate < 2:
    return None
  return ScheduleStep(halved(schedule_settings), schedule_settings, True,
                      speed)


def _nearest_points(betas, wanted):
  """Indices into `betas` (increasing) of the one nearest each of `wanted`
  in log β, sorted, without repeats."""
  log_betas = np.log(np.asarray(betas, np.float64))
  return sorted({int(np.argmin(np.abs(log_betas - math.log(beta))))
                 for beta in wanted})


def user_image_change(curve, earlier, betas):
  """The paired change of forward log Ẑ per image from `earlier` to
  `curve`, at the RD point nearest each of `betas`.

  The check's β are RD points by default (the lowest, 1 and the highest);
  a β asked for between RD points takes the nearest one in log β, where
  the curve has per-image values.

  Args:
    curve: the settled `RDCurve`.
    earlier: an `RDCurve` of some of its images (matched by
      `image_indices`) on another schedule with the same RD points.
    betas: the check's inverse temperatures.

  Returns:
    A list of JSON-serializable dicts, one per RD point, increasing:
    beta (the RD point), checked_betas (those it stands for), mean_change
    (settled minus earlier log Ẑ, averaged over the images), stderr (of
    that mean over the images; None for one image), changes (per image),
    mean_log_z and earlier_mean_log_z.

  Raises:
    ValueError: when `earlier` holds an image `curve` does not, or other RD
      points.
  """
  columns = {int(index): column
             for column, index in enumerate(curve.image_indices)}
  missing = [int(i) for i in earlier.image_indices if int(i) not in columns]
  if missing:
    raise ValueError(f'Images {missing} are not among the curve\'s.')
  if earlier.betas.shape != curve.betas.shape or not np.allclose(
      earlier.betas, curve.betas, rtol=1e-9, atol=0):
    raise ValueError('The two curves have different RD points.')
  images = [columns[int(i)] for i in earlier.image_indices]
  points = []
  for point in _nearest_points(curve.betas, betas):
    changes = (curve.log_z_per_image[point, images] -
               earlier.log_z_per_image[point])
    stands_for = [float(beta) for beta in betas
                  if _nearest_points(curve.betas, [beta]) == [point]]
    points.append({
        'beta': float(curve.betas[point]),
        'checked_betas': stands_for,
        'mean_change': float(np.mean(changes)),
        'stderr': (float(np.std(changes, ddof=1) / math.sqrt(changes.size))
                   if changes.size > 1 else None),
        'changes': changes.tolist(),
        'mean_log_z': float(np.mean(curve.log_z_per_image[point, images])),
        'earlier_mean_log_z': float(np.mean(earlier.log_z_per_image[point])),
    })
  return points


def measure_user_images(decoder, data, distortion, curve, step, prior,
                        chains, betas, control=None):
  """The signal on the user's images: their forward log Ẑ on
  `step.previous` against the curve's on the settled schedule.

  The curve's first `USER_IMAGES` images run forward AIS once more, on the
  previous schedule, with the curve's seed, chains and image indices (so
  each image draws its own random streams, as in the curve): the change
  per image is paired, and its mean and standard error over the images
  are `user_image_change`'s.

  Args:
    decoder: the curve's decoder.
    data: the curve's images, in its order (`curve.image_indices`).
    distortion: a `tfrd.Distortion` or its name.
    curve: the `RDCurve` on `step.settled`.
    step: a `ScheduleStep` (`schedule_step`).
    prior: the curve's prior.
    chains: the curve's `ChainSettings` (its step-size table, if any, is
      not replayed: it belongs to the settled schedule).
    betas: the check's inverse temperatures (`user_image_change`).
    control: a `RunControl` for the run (progress, stop), or None.

  Returns:
    A JSON-serializable dict (curve.json's `accuracy.user_images`): images
    (their indices), schedules ([previous, settled] num_intermediate),
    num_transitions (the same), halved (`step.halved`),
    previous_schedule (its num_intermediate, min_before_first and
    min_between), points (`user_image_change`), decoder_gradients (the
    run's, all chains and passes), wall_time_s and
    `USER_IMAGES_EXPLANATION`.

  Raises:
    tfrd.RunInterrupted: `control.stop` was set.
  """
  from tfrd import api  # pylint: disable=g-import-not-at-top
  start = time.time()
  count = _user_image_count(curve.num_images)
  chains = chains._replace(step_size_table=None)
  control = settings_lib.RunControl() if control is None else control
  control = control._replace(checkpoint_dir=None, strategy=None)
  earlier = api.estimate_rd_curve(
      decoder, np.asarray(data)[:count], distortion,
      adapted_schedule(step.previous, step.speed),
      latent_dim=int(prior.event_shape[-1]), prior=prior, chains=chains,
      control=control, image_indices=curve.image_indices[:count])
  previous = step.previous
  return {
      'images': [int(index) for index in curve.image_indices[:count]],
      'schedules': [previous.num_intermediate,
                    step.settled.num_intermediate],
      'num_transitions': [int(earlier.config['num_transitions']),
                          int(curve.config['num_transitions'])],
      'halved': bool(step.halved),
      'previous_schedule': {
          'num_intermediate': previous.num_intermediate,
          'min_before_first': previous.min_before_first,
          'min_between': previous.min_between},
      'points': user_image_change(curve, earlier, betas),
      'decoder_gradients': int(earlier.config['decoder_gradients_per_chain'])
                           * count * chains.num_chains,
      'wall_time_s': time.time() - start,
      'explanation': USER_IMAGES_EXPLANATION,
  }


def add_user_images(accuracy, record):
  """curve.json's `accuracy` with the signal on the user's images in it.

  Its forward run is part of what the check cost: `check_decoder_gradients`,
  `check_cost_fraction` and the cost warning (`cost_warnings`) count it.

  Args:
    accuracy: the `describe` document (a record already there is replaced).
    record: `measure_user_images`' dict.

  Returns:
    A new dict.
  """
  document = dict(accuracy)
  earlier = (accuracy.get('user_images') or {}).get('decoder_gradients', 0)
  total = int(accuracy['check_decoder_gradients'] - earlier +
              record['decoder_gradients'])
  curve_gradients = accuracy['curve_decoder_gradients']
  search = accuracy.get('search') or {}
  measurements = (max(1, len(search.get('attempts', []))) +
                  (search.get('verification') is not None) + 1)
  document.update({
      'user_images': record,
      'check_decoder_gradients': total,
      'check_cost_fraction': total / max(curve_gradients, 1),
      'warnings': [warning for warning in accuracy['warnings']
                   if not warning.startswith(_COST_WARNING)] + cost_warnings(
                       total, curve_gradients, measurements),
  })
  return document


def run_warnings(curve):
  """What a user should know about a curve's chains, with what to try.

  Looks at each RD point's HMC acceptance (outside `ACCEPT_RANGE`) and the
  median over images of the AIS weights' effective sample size (at most
  `MIN_EFFECTIVE_SAMPLE_SIZE`: one chain carries the estimate).

  Returns:
    A list of one-line strings (empty when nothing is off).
  """
  warnings = []
  betas = curve.betas
  accept = curve.accept_rate
  low, high = ACCEPT_RANGE

  def where(mask):
    points = betas[mask]
    return (f'at {points.size} RD point(s), beta {points.min():.3g} to '
            f'{points.max():.3g}')

  for name, bound, outside, advice in (
      ('below', low, accept < low,
       'the chains barely move: try more leapfrog steps with smaller steps '
       '(--step_size_mode=two_pass adapts them) or a longer schedule'),
      ('above', high, accept > high,
       'the steps are too small to explore: let them adapt toward '
       '--target_accept (--step_size_mode=two_pass) rather than fixing '
       'them')):
    if np.any(outside):
      warnings.append(
          f'HMC acceptance {name} {bound:g} {where(outside)} (lowest '
          f'{np.nanmin(accept[outside]):.2f}, highest '
          f'{np.nanmax(accept[outside]):.2f}): {advice}.')
  ess = curve.effective_sample_size_per_image
  if not np.all(np.isnan(ess)):
    collapsed = np.nanmedian(ess, axis=1) <= MIN_EFFECTIVE_SAMPLE_SIZE
    if np.any(collapsed):
      chains = curve.config.get('num_chains', 'the')
      warnings.append(
          f'The AIS weights collapsed (median effective sample size <= '
          f'{MIN_EFFECTIVE_SAMPLE_SIZE:g} of {chains} chains) '
          f'{where(collapsed)}: one chain carries each estimate there; try '
          f'a longer schedule (--target_gap, --num_intermediate) or more '
          f'--num_chains.')
  return warnings


def gap_text(point, spec='.3g'):
  """'0.12 ± 0.05': a point's mean gap and standard error in format `spec`
  (the mean alone where no standard error exists)."""
  stderr = point.get('gap_stderr')
  return f'{point["mean_gap"]:{spec}}' + (
      '' if stderr is None else f' ± {stderr:{spec}}')


def gap_warnings(points, target_gap=None, search=None, schedule_fixed=False):
  """One-line warnings about the check's gaps, with what to try.

  With a target, a point not `within_target` is named (the largest judged
  gap); without one, a mean gap above 1 nat.

  Args:
    points: the check's `point_record`s.
    target_gap: the target, or None.
    search: the `ScheduleSearch` the schedule came from, or None.
    schedule_fixed: the target judged a schedule its user set, which was
      not lengthened (`AccuracySettings.grow_schedule` False): a miss says
      so, and that letting tfrd lengthen it would.

  Returns:
    A list of one-line strings.
  """
  warnings = []
  measured = [point for point in points if point.get('mean_gap') is not None]
  if target_gap is None:
    loose = [point for point in measured if point['mean_gap'] > 1.0]
  else:
    loose = [point for point in measured
             if not within_target(point, target_gap)]
  worst = (max(loose, key=lambda point: judged_gap(point)) if loose
           else None)
  if search is not None and search.status == 'capped':
    warnings.append(
        f'The target gap of {target_gap:g} nats was not met within the cap '
        f'(--max_num_intermediate): the curve uses the longest schedule '
        f'tried (--num_intermediate={search.schedule_settings.num_intermediate}'
        f'), where the BDMC gap at beta {worst["beta"]:g} is '
        f'{gap_text(worst)} nats (mean + {STDERR_MARGIN:g} s.e. '
        f'{judged_gap(worst):.3g}); raise the cap, or use more '
        f'--leapfrog_steps or chains.')
  elif worst is not None and target_gap is not None:
    few = (worst.get('num_images') or 0) < MIN_CHECK_IMAGES
    warnings.append(
        f'The target gap of {target_gap:g} nats is not met: BDMC gap '
        f'{gap_text(worst)} nats at beta {worst["beta"]:g}'
        + (f' on {worst.get("num_images")} simulated image(s), fewer than '
           f'the {MIN_CHECK_IMAGES} a verdict needs' if few else
           f' (mean + {STDERR_MARGIN:g} s.e. {judged_gap(worst):.3g})')
        + '; on images simulated from the decoder its rate there is too '
        'high by up to about the gap, an indication for your images.'
        + (' The schedule was set explicitly, so it was checked against the '
           'target, not lengthened to meet it: asking for the target '
           'explicitly lets tfrd lengthen it from there, as does a longer '
           'schedule.' if schedule_fixed else ''))
  elif worst is not None:
    warnings.append(
        f'The curve is loose: BDMC gap {gap_text(worst)} nats at beta '
        f'{worst["beta"]:g} on images simulated from the decoder, which '
        f'indicates that its rate there may be too high by about that much; '
        f'--target_gap=1 lengthens the schedule until the gaps are within 1 '
        f'nat.')
  return warnings


# How `cost_warnings`' warning starts (`add_user_images` replaces it).
_COST_WARNING = 'The accuracy check cost'


def cost_warnings(check_gradients, curve_gradients, num_measurements=1):
  """A one-line warning when the check cost more decoder gradients than the
  curve (a curve of few images: the check's images do not shrink with
  it), else nothing.

  Args:
    check_gradients: the check's decoder gradients, every measurement.
    curve_gradients: the curve's.
    num_measurements: the check's measurements (a search's attempts and
      its verification).

  Returns:
    A list of at most one string.
  """
  if check_gradients <= curve_gradients:
    return []
  tried = (f' over {num_measurements} measurements'
           if num_measurements > 1 else '')
  return [
      f'{_COST_WARNING} {check_gradients:,} decoder gradients'
      f'{tried}, {check_gradients / max(curve_gradients, 1):.2g} times the '
      f'curve\'s {curve_gradients:,}: its simulated images do not shrink '
      f'with a curve of few images (a target is judged on at least '
      f'{MIN_CHECK_IMAGES}), so such a curve pays more for its check than '
      f'for itself; a curve of more images pays proportionally less.']


def describe(curve, plan, points, search=None, target_gap=None,
             schedule_fixed=False):
  """curve.json's `accuracy` field.

  Args:
    curve: the `RDCurve` (for `run_warnings`).
    plan: the check's `CheckPlan` on the curve's schedule.
    points: the check's `point_record`s (those measured so far).
    search: the `ScheduleSearch` the schedule came from, or None.
    target_gap: the target, or None.
    schedule_fixed: the target judged a schedule its user set, without
      lengthening it (`gap_warnings`; recorded as `schedule_as_set`).

  Returns:
    A JSON-serializable dict: the gaps' summary (per point: beta,
    mean_gap, gap_stderr (null where none exists), max_gap, num_images and
    judged_gap, the mean plus `STDERR_MARGIN` standard errors), the
    check's decoder gradients (check_decoder_gradients and
    check_cost_fraction: the whole search's, every schedule tried;
    settled_check_decoder_gradients: the settled schedule's points alone)
    and the curve's, the target and whether
    every point is `within_target` (and `schedule_as_set`: whether the
    schedule judged was the user's, not lengthened), the
    schedule search's attempts, warnings (`run_warnings`, `gap_warnings`,
    `cost_warnings`) and `EXPLANATION`. The signal on the user's images
    is added to it by `add_user_images`.
  """
  settled_gradients = int(sum(point.get('decoder_gradients', 0)
                              for point in points))
  # The check's cost is the whole search's: every schedule it tried.
  check_gradients = (settled_gradients if search is None else
                     search.decoder_gradients)
  gaps = [point['mean_gap'] for point in points]
  document = {
      'checked_betas': [float(beta) for beta in plan.betas],
      'num_images': int(plan.num_images),
      'gaps': [{key: point.get(key) for key in (
          'beta', 'mean_gap', 'gap_stderr', 'max_gap', 'num_images')} | {
              'judged_gap': judged_gap(point)} for point in points],
      'largest_mean_gap': max(gaps) if gaps else None,
      'check_decoder_gradients': int(check_gradients),
      'settled_check_decoder_gradients': settled_gradients,
      'curve_decoder_gradients': int(plan.curve_decoder_gradients),
      'check_cost_fraction': check_gradients / max(
          plan.curve_decoder_gradients, 1),
      'complete': len(points) == len(plan.betas),
      'target_gap': target_gap,
      'within_target': (None if target_gap is None or not gaps else all(
          within_target(point, target_gap) for point in points)),
      'schedule_as_set': bool(schedule_fixed and target_gap is not None),
      'warnings': run_warnings(curve) + gap_warnings(
          points, target_gap, search, schedule_fixed) + cost_warnings(
              check_gradients, plan.curve_decoder_gradients,
              1 if search is None else len(search.attempts) + (
                  search.verification is not None) + (
                      search.speed is not None)),
      'explanation': EXPLANATION,
  }
  if search is not None:
    document['search'] = {
        'status': search.status,
        'attempts': [{key: value for key, value in attempt.items()
                      if key != 'points'} | {
                          'gaps': {f'{point["beta"]:g}': point['mean_gap']
                                   for point in attempt['points']}}
                     for attempt in search.attempts],
        'decoder_gradients': search.decoder_gradients,
        'verification': None if search.verification is None else {
            key: value for key, value in search.verification.items()
            if key != 'points'} | {
                'gaps': {f'{point["beta"]:g}': point['mean_gap']
                         for point in search.verification['points']}},
        'settled_num_intermediate': search.schedule_settings.num_intermediate,
        'settled_min_before_first': search.schedule_settings.min_before_first,
        'settled_min_between': search.schedule_settings.min_between,
        # What re-spaced every schedule the search tried (None: none did),
        # so that a resumed run rebuilds the curve's schedule.
        'speed': search.speed,
    }
  return document


def estimate_rd_curve_checked(decoder, data, distortion='mse', schedule=None,
                              latent_dim=None, prior=None, chains=None,
                              control=None, accuracy=None,
                              image_indices=None):
  """`tfrd.estimate_rd_curve` on a schedule that meets a target gap, with
  the curve's BDMC check in its `bdmc` and `accuracy` fields.

  What `apps.rd_curve` does by default: `settle_schedule` (when
  `accuracy.target_gap` is set and `accuracy.grow_schedule`), the curve on
  the settled schedule, and the check (the search's verification on fresh
  images, or `plan_check`'s run after the curve, judged against the target
  if there is one); after a search, the signal on the first images
  (`measure_user_images`, in `accuracy['user_images']`).

  Args:
    decoder, data, distortion, latent_dim, prior, chains, image_indices: as
      for `tfrd.estimate_rd_curve`.
    schedule: a `ScheduleSettings` (the first attempt; tfrd's defaults if
      None): the search lengthens it.
    control: a `RunControl`; its progress, stop and checkpoints serve the
      curve, its progress and stop the check (which runs undistributed).
    accuracy: `AccuracySettings` (defaults: the three default points,
      images within half the curve's cost, a 1-nat target).

  Returns:
    The `RDCurve`, with `bdmc` (the check's `point_record`s) and `accuracy`
    (`describe`, and after a search `user_images`: `add_user_images`);
    `accuracy['search']` names the settled schedule.
  """
  # pylint: disable=g-import-not-at-top
  from tfrd import api
  from tfrd import target as target_lib
  # pylint: enable=g-import-not-at-top
  distortion = distortions_lib.get_distortion(distortion)
  chains = settings_lib.ChainSettings() if chains is None else chains
  control = settings_lib.RunControl() if control is None else control
  accuracy = (settings_lib.AccuracySettings() if accuracy is None
              else accuracy)
  schedule_settings = (settings_lib.ScheduleSettings() if schedule is None
                       else schedule)
  if prior is None:
    if latent_dim is None:
      raise ValueError('Give latent_dim (or a prior).')
    prior = target_lib.standard_normal_prior(int(latent_dim))
  num_images = int(np.shape(data)[0])
  check_control = control._replace(checkpoint_dir=None, strategy=None)
  search = None
  if (accuracy.enabled and accuracy.target_gap is not None and
      accuracy.grow_schedule):
    search = settle_schedule(decoder, distortion, schedule_settings, prior,
                             chains, accuracy, num_images, check_control)
    schedule_settings = search.schedule_settings
  schedule = (schedules_lib.schedule_from_settings(schedule_settings)
              if search is None else search.schedule)
  curve = api.estimate_rd_curve(decoder, data, distortion, schedule,
                                prior=prior, chains=chains, control=control,
                                image_indices=image_indices)
  plan = plan_check(distortion, schedule, num_images, chains, accuracy,
                    int(prior.event_shape[-1]))
  if search is not None:
    points = list(search.check)
  elif accuracy.enabled:
    check_chains = chains._replace(step_size_table=None)
    results = bdmc_lib.bdmc_at_points(
        decoder, distortion, plan.betas, num_images=plan.num_images,
        prior=prior, schedule=schedule_holding(schedule, plan.betas),
        chains=check_chains, control=check_control)
    points = [point_record(result, check_chains,
                           result.beta in schedule.betas)
              for result in results]
  else:
    points = []
  curve.bdmc = points or None
  curve.accuracy = describe(
      curve, plan, points, search, accuracy.target_gap,
      schedule_fixed=accuracy.enabled and not accuracy.grow_schedule)
  step = (None if search is None else
          schedule_step(schedule_settings, search.attempts, search.speed))
  if step is not None:
    curve.accuracy = add_user_images(curve.accuracy, measure_user_images(
        decoder, data, distortion, curve, step, prior, chains, plan.betas,
        check_control))
  return curve
