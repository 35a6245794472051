"""Temperature schedules for the AIS chain of Huang et al. (2020), §4 and appendix D.2.

A schedule is the increasing sequence 0 = β_0 < β_1 < ... < β_n of inverse
temperatures of the intermediate distributions q_k(z|x) ∝ p(z) exp(-β_k d(x, f(z)))
(eq. 10), together with the positions k at which a rate-distortion point is
recorded. Schedules are plain float64 NumPy data: they are built once, on the
host, and fed to the compiled AIS loop.
"""

import collections

import numpy as np

from tfrd import settings as settings_lib

__all__ = [
    'AnnealingSchedule',
    'sigmoid_betas',
    'linear_betas',
    'geometric_betas',
    'rd_point_betas',
    'build_schedule',
    'schedule_from_settings',
    'thermodynamic_schedule',
    'log_weight_variance',
]


class AnnealingSchedule(
    collections.namedtuple('AnnealingSchedule', ['betas', 'rd_indices'])):
  """Inverse temperatures of an AIS run and where RD points are recorded.

  Attributes:
    betas: float64 array [n + 1], strictly increasing, `betas[0] == 0`.
    rd_indices: int64 array [P], strictly increasing indices into `betas`
      (all > 0) at which (rate, distortion) is estimated with eq. 14–15.
  """
  __slots__ = ()

  def __new__(cls, betas, rd_indices):
    betas = np.asarray(betas, dtype=np.float64)
    rd_indices = np.asarray(rd_indices, dtype=np.int64)
    if betas.ndim != 1 or betas.size < 2:
      raise ValueError(
          f'A schedule needs at least two inverse temperatures, got shape '
          f'{betas.shape}.')
    if not np.all(np.isfinite(betas)):
      raise ValueError('Schedule contains non-finite inverse temperatures.')
    if betas[0] != 0.0:
      raise ValueError(
          f'A schedule must start at beta = 0 (the prior), got {betas[0]!r}.')
    steps = np.diff(betas)
    if np.any(steps <= 0):
      bad = int(np.argmax(steps <= 0))
      raise ValueError(
          'Schedule is not strictly increasing: beta[{}] = {!r} is followed by '
          'beta[{}] = {!r}.'.format(bad, betas[bad], bad + 1, betas[bad + 1]))
    if rd_indices.ndim != 1 or rd_indices.size == 0:
      raise ValueError('A schedule needs at least one RD point.')
    if np.any(np.diff(rd_indices) <= 0):
      raise ValueError('RD point indices must be strictly increasing.')
    if rd_indices[0] < 1 or rd_indices[-1] > betas.size - 1:
      raise ValueError(
          f'RD point indices must lie in [1, {betas.size - 1}], got '
          f'[{rd_indices[0]}, {rd_indices[-1]}].')
    betas.setflags(write=False)
    rd_indices.setflags(write=False)
    return super().__new__(cls, betas, rd_indices)

  @property
  def num_transitions(self):
    """Number of intermediate distributions after the prior (n)."""
    return self.betas.size - 1

  @property
  def rd_betas(self):
    """Inverse temperatures of the recorded RD points."""
    return self.betas[self.rd_indices]


def sigmoid_betas(num_intermediate, beta_max, radius=4.0):
  """Wu et al. (2016)'s sigmoid schedule from 0 to `beta_max`.

  Points are spaced uniformly in t ∈ [-radius, radius] and mapped through a
  sigmoid rescaled to [0, 1], so that they crowd at both ends of the range.

  Args:
    num_intermediate: number of intervals n (the result has n + 1 entries).
    beta_max: the last inverse temperature.
    radius: half-width of the sigmoid's argument range.

  Returns:
    float64 array [n + 1] from exactly 0 to exactly `beta_max`.
  """
  _check_positive_int(num_intermediate, 'num_intermediate')
  _check_positive(beta_max, 'beta_max')
  t = np.linspace(-radius, radius, num_intermediate + 1)
  sigmoid = 1.0 / (1.0 + np.exp(-t))
  unit = (sigmoid - sigmoid[0]) / (sigmoid[-1] - sigmoid[0])
  unit[0], unit[-1] = 0.0, 1.0
  return beta_max * unit


def geometric_betas(num_intermediate, beta_max, beta_min):
  """0 followed by `num_intermediate` log-spaced values from beta_min to beta_max.

  Equal steps in log β keep the variance of each log-weight increment,
  (Δβ)² Var_q(d), roughly constant where Var_q(d) falls like 1/β², as it
  does for a decoder that is locally linear around the posterior mode: the
  high-β end of every curve. Below `beta_min` `build_schedule` fills
  linearly, where Var_q(d) is roughly constant.
  """
  _check_positive_int(num_intermediate, 'num_intermediate')
  _check_positive(beta_max, 'beta_max')
  _check_positive(beta_min, 'beta_min')
  if beta_min >= beta_max:
    raise ValueError(f'beta_min ({beta_min}) must be below beta_max '
                     f'({beta_max}).')
  betas = np.concatenate([[0.0], np.geomspace(beta_min, beta_max,
                                              num_intermediate)])
  betas[-1] = beta_max
  return betas


def linear_betas(num_intermediate, beta_max):
  """Evenly spaced inverse temperatures from 0 to `beta_max` (n + 1 entries)."""
  _check_positive_int(num_intermediate, 'num_intermediate')
  _check_positive(beta_max, 'beta_max')
  return np.linspace(0.0, beta_max, num_intermediate + 1)


def rd_point_betas(num_rd_points, beta_max, beta_min=1.0 / 12.0,
                   include_beta_one=True, spacing='log'):
  """Inverse temperatures at which RD points are recorded.

  Appendix D.2 uses β_min = 1/12 and a dense grid up to β_max; we space
  `num_rd_points` log-uniformly by default so a short run still covers every
  regime of the curve, and add β = 1 (the log-likelihood point of Prop. 2c)
  when asked and in range.

  Args:
    num_rd_points: number of points before β = 1 is added.
    beta_max: the largest inverse temperature (always a point).
    beta_min: the smallest recorded inverse temperature.
    include_beta_one: whether β = 1 is exactly one of the points.
    spacing: 'log', 'linear', or 'paper': appendix D.2's grid, linear from
      `beta_min` to 1 and from 1 to `beta_max` with (num_rd_points - 1) / 2
      intervals each (1999 points: 999 on each side of β = 1, plus 1); or
      'paper_temperature': the same, but above β = 1 linear in the
      temperature 1/β. D.2 says "spaced linearly"; with its sigmoid base and
      fills this reading builds 61,114 distributions for N = 40,000 and
      1,611,419 for N = 1,600,000 where the paper states 60,292 and
      1,611,463, while linear in β builds 52,713 and 1,609,539
      (`tests/test_schedules.py`), so the authors' grid was probably close
      to it; neither reading gives the stated counts exactly.

  Returns:
    Sorted unique float64 array.
  """
  _check_positive_int(num_rd_points, 'num_rd_points')
  _check_positive(beta_max, 'beta_max')
  _check_positive(beta_min, 'beta_min')
  if beta_min > beta_max:
    raise ValueError(f'beta_min ({beta_min}) exceeds beta_max ({beta_max}).')
  if num_rd_points == 1:
    points = np.array([beta_max])
  elif spacing == 'log':
    points = np.geomspace(beta_min, beta_max, num_rd_points)
  elif spacing == 'linear':
    points = np.linspace(beta_min, beta_max, num_rd_points)
  elif spacing in ('paper', 'paper_temperature'):
    if not beta_min < 1.0 < beta_max or num_rd_points < 3:
      raise ValueError(
          f'spacing={spacing!r} needs beta_min < 1 < beta_max and at least 3 '
          f'points, got beta_min={beta_min}, beta_max={beta_max}, '
          f'{num_rd_points} points.')
    side = (num_rd_points - 1) // 2
    above = (np.linspace(1.0, beta_max, side + 1) if spacing == 'paper' else
             1.0 / np.linspace(1.0, 1.0 / beta_max, side + 1))
    points = np.union1d(np.linspace(beta_min, 1.0, side + 1), above)
  else:
    raise ValueError(f"spacing must be 'log', 'linear', 'paper' or "
                     f"'paper_temperature', got {spacing!r}.")
  points[-1] = beta_max
  if include_beta_one and beta_min <= 1.0 <= beta_max:
    # Snap the nearest point to 1 rather than adding one, so that the number of
    # points stays what was asked unless 1 would crowd an end point.
    nearest = int(np.argmin(np.abs(np.log(points) - 0.0)))
    if 0 < nearest < points.size - 1 or points.size == 1:
      points[nearest] = 1.0
    else:
      points = np.append(points, 1.0)
  return np.unique(points)


def build_schedule(rd_betas, base_betas=None, min_before_first=800,
                   min_between=10):
  """Merges RD points into a base schedule, as in appendix D.2.

  Step 1 of D.2 is the base schedule (e.g. `sigmoid_betas`). Step 2: if fewer
  than `min_before_first` intermediate distributions lie before the first RD
  point, that stretch is replaced by `min_before_first` linearly spaced ones.
  Step 3: the same with `min_between` between consecutive RD points. The RD
  points themselves become members of the schedule, so β = 1 is exactly
  present whenever it is an RD point.

  Args:
    rd_betas: increasing positive inverse temperatures of the RD points.
    base_betas: optional base schedule from 0; entries above the last RD
      point are dropped.
    min_before_first: minimum intermediate distributions in (0, rd_betas[0]).
    min_between: minimum intermediate distributions between two RD points.

  Returns:
    An `AnnealingSchedule`.

  Raises:
    ValueError: if the RD points are not positive and strictly increasing.
  """
  rd_betas = np.asarray(rd_betas, dtype=np.float64).reshape(-1)
  if rd_betas.size == 0:
    raise ValueError('At least one RD point is needed.')
  if not np.all(np.isfinite(rd_betas)) or np.any(rd_betas <= 0):
    raise ValueError(
        f'RD inverse temperatures must be positive and finite, got '
        f'{rd_betas.tolist()}.')
  if np.any(np.diff(rd_betas) <= 0):
    raise ValueError(
        f'RD inverse temperatures must be strictly increasing, got '
        f'{rd_betas.tolist()}.')
  if base_betas is None:
    base_betas = np.zeros([1])
  base_betas = np.asarray(base_betas, dtype=np.float64)
  if np.any(np.diff(base_betas) <= 0):
    raise ValueError('The base schedule must be strictly increasing.')

  pieces = [np.zeros([1])]
  rd_indices = []
  previous = 0.0
  count = 1
  for position, beta in enumerate(rd_betas):
    inner = base_betas[(base_betas > previous) & (base_betas < beta)]
    needed = min_before_first if position == 0 else min_between
    if inner.size < needed:
      inner = np.linspace(previous, beta, needed + 2)[1:-1]
    pieces.extend([inner, np.array([beta])])
    count += inner.size + 1
    rd_indices.append(count - 1)
    previous = beta
  return AnnealingSchedule(np.concatenate(pieces), np.array(rd_indices))


def schedule_from_settings(settings=None):
  """The `AnnealingSchedule` a `tfrd.ScheduleSettings` describes.

  RD points: `settings.rd_betas` if given (then the largest is β_max), else
  `rd_point_betas(num_rd_points, beta_max, beta_min, include_beta_one,
  rd_spacing)`. Base schedule of `num_intermediate` distributions:
  geometric from the lowest RD point (at most β_max / 2) to β_max, Wu et
  al.'s sigmoid ('paper', 'sigmoid') or linear. For 'geometric' and 'paper'
  the stretches before the first RD point and between points are filled to
  `min_before_first` and `min_between` distributions (appendix D.2); for
  'sigmoid' and 'linear' the RD points are only inserted.

  Args:
    settings: a `tfrd.ScheduleSettings`; `ScheduleSettings()` (tfrd's
      default schedule: 40 log-spaced points from 1/12 to 1000 with β = 1,
      on 5000 geometric distributions) if None.

  Returns:
    An `AnnealingSchedule`.

  Raises:
    ValueError: for settings that make no schedule (e.g. 'paper' spacing
      with beta_max <= 1).
  """
  if settings is None:
    settings = settings_lib.ScheduleSettings()
  if settings.rd_betas:
    rd_betas = list(settings.rd_betas)
    beta_max = rd_betas[-1]
  else:
    beta_max = settings.beta_max
    rd_betas = rd_point_betas(settings.num_rd_points, beta_max,
                              beta_min=settings.beta_min,
                              include_beta_one=settings.include_beta_one,
                              spacing=settings.rd_spacing)
  beta_max = max(beta_max, 1e-12)  # build_schedule reports bad RD points
  if settings.kind == 'linear':
    base = linear_betas(settings.num_intermediate, beta_max)
  elif settings.kind == 'geometric':
    base = geometric_betas(settings.num_intermediate, beta_max,
                           min(rd_betas[0], beta_max / 2)
                           if rd_betas[0] > 0 else beta_max / 2)
  else:
    base = sigmoid_betas(settings.num_intermediate, beta_max)
  if settings.kind in ('paper', 'geometric'):
    return build_schedule(rd_betas, base, settings.min_before_first,
                          settings.min_between)
  return build_schedule(rd_betas, base, 0, 0)



# Neighbours on either side whose largest speed a measurement takes
# (`_speed`).
_SPEED_WINDOW = 2


def _speed(betas, measured_betas, variances):
  """λ(β) = sqrt(Var_β[d]) at `betas`, interpolated in log β between the
  measured points and held beyond them (λ is smooth in log β, and β = 0
  takes the lowest point's value).

  Each measurement is first replaced by the largest of it and its
  `_SPEED_WINDOW` neighbours on either side: a variance measured too low
  by chance would open a hole the schedule jumps across, which costs far
  more than the few transitions an estimate too high moves. Floored at
  1e-6 of the largest value, so that every stretch keeps some length."""
  measured_betas = np.asarray(measured_betas, np.float64)
  speeds = np.sqrt(np.maximum(np.asarray(variances, np.float64), 0.0))
  padded = np.pad(speeds, _SPEED_WINDOW, mode='edge')
  speeds = np.max(np.stack([
      padded[shift:shift + speeds.size]
      for shift in range(2 * _SPEED_WINDOW + 1)]), axis=0)
  floor = 1e-6 * max(float(np.max(speeds)), 1e-300)
  speeds = np.maximum(speeds, floor)
  tiny = measured_betas[0] if measured_betas[0] > 0 else 1e-300
  return np.interp(np.log(np.maximum(betas, tiny)),
                   np.log(np.maximum(measured_betas, tiny)), speeds)


def log_weight_variance(schedule, measured_betas, variances):
  """Σ_k (β_k - β_{k-1})² Var_{β_{k-1}}[d]: the variance of the AIS
  log-weights of a chain at equilibrium along `schedule`, given the
  distortion's variance measured at `measured_betas` (interpolated as
  `thermodynamic_schedule` does). By Cauchy–Schwarz it is at least Λ²/n
  for n transitions, Λ = ∫ sqrt(Var_β[d]) dβ the thermodynamic length,
  with equality on the equal-length schedule."""
  betas = np.asarray(schedule.betas, np.float64)
  return float(np.sum(np.diff(betas) ** 2 *
                      _speed(betas[:-1], measured_betas, variances) ** 2))


def thermodynamic_schedule(schedule, measured_betas, variances,
                           base_share=0.0):
  """`schedule` re-spaced so that its transitions carry equal shares of the
  thermodynamic length, keeping their number and the RD points' β.

  Each AIS transition from β_{k-1} to β_k adds -(β_k - β_{k-1}) d(x, f(z))
  to a chain's log-weight; at equilibrium that increment's variance is
  (β_k - β_{k-1})² Var_{β_{k-1}}[d], and the log-weights' variance, which
  the AIS bound's looseness follows, is their sum (`log_weight_variance`).
  For a fixed number n of transitions the sum is smallest, Λ²/n, when every
  transition covers an equal length of Λ = ∫ sqrt(Var_β[d]) dβ (Syed et
  al. 2024, "Optimised annealed sequential Monte Carlo samplers";
  Goshtasbpour et al. 2023, "Adaptive annealed importance sampling with
  constant rate progress"). On a deep decoder a geometric schedule spends a
  fifth of its transitions below β = 1/12, where Var_β[d] is small, and
  too few near β_max, where the posterior narrows fastest.

  The RD points stay members of the schedule: each stretch between two
  consecutive RD points (and from 0 to the first) gets transitions in
  proportion to its length (at least one), spaced at equal length within
  it.

  Args:
    schedule: the `AnnealingSchedule` the variances were measured along.
    measured_betas: increasing inverse temperatures of the measurements
      (e.g. a preliminary pass's chunk ends).
    variances: Var_β[d] there (e.g. each image's variance of the distortion
      over its chains, averaged over images), same length.
    base_share: the share of each stretch's transitions, and of their
      placement, that follows `schedule` itself (0: all by length; 1:
      `schedule` unchanged).

  Returns:
    An `AnnealingSchedule` with `schedule.num_transitions` transitions and
    RD points at `schedule`'s RD β.

  Raises:
    ValueError: for measurements that are not increasing, finite and
      non-negative, or a share outside [0, 1].
  """
  measured_betas = np.asarray(measured_betas, np.float64).reshape(-1)
  variances = np.asarray(variances, np.float64).reshape(-1)
  if (measured_betas.size == 0 or measured_betas.shape != variances.shape or
      not np.all(np.isfinite(measured_betas)) or
      not np.all(np.isfinite(variances)) or np.any(variances < 0) or
      np.any(np.diff(measured_betas) <= 0)):
    raise ValueError('The measurements need increasing, finite inverse '
                     'temperatures and as many finite, non-negative '
                     'variances.')
  if not 0.0 <= base_share <= 1.0:
    raise ValueError(f'base_share must lie in [0, 1], got {base_share!r}.')
  betas = np.asarray(schedule.betas, np.float64)
  num_transitions = schedule.num_transitions
  # Cumulative length on the base schedule's own β, a fine grid.
  speed = _speed(betas, measured_betas, variances)
  length = np.concatenate(
      [[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(betas))])
  ends = np.concatenate([[0], schedule.rd_indices]).astype(np.int64)
  stretch_lengths = np.diff(length[ends])
  stretch_steps = np.diff(ends).astype(np.float64)
  wanted = ((1.0 - base_share) * num_transitions * stretch_lengths /
            length[-1] + base_share * stretch_steps)
  counts = _apportion(wanted, num_transitions)
  pieces = [np.zeros([1])]
  for stretch, count in enumerate(counts):
    first, last = ends[stretch], ends[stretch + 1]
    grid = betas[first:last + 1]
    # Where along the stretch, from 0 to 1, by length and by position in
    # the base schedule, blended.
    by_length = (length[first:last + 1] - length[first]) / (
        length[last] - length[first])
    by_position = np.linspace(0.0, 1.0, grid.size)
    progress = (1.0 - base_share) * by_length + base_share * by_position
    placed = np.interp(np.arange(1, count + 1) / count, progress, grid)
    placed[-1] = grid[-1]  # The RD point itself, exactly.
    pieces.append(placed)
  new_betas = np.concatenate(pieces)
  return AnnealingSchedule(new_betas, np.cumsum(counts))


def _apportion(wanted, total):
  """Integers of sum `total`, each at least 1, near `wanted` (largest
  remainders)."""
  wanted = np.maximum(np.asarray(wanted, np.float64), 1.0)
  wanted = wanted * (total / np.sum(wanted))
  counts = np.maximum(np.floor(wanted).astype(np.int64), 1)
  while counts.sum() < total:
    counts[np.argmax(wanted - counts)] += 1
  while counts.sum() > total:
    spare = np.where(counts > 1, counts - wanted, -np.inf)
    counts[np.argmax(spare)] -= 1
  return counts

def _check_positive_int(value, name):
  if int(value) != value or value < 1:
    raise ValueError(f'{name} must be a positive integer, got {value!r}.')


def _check_positive(value, name):
  if not np.isfinite(value) or value <= 0:
    raise ValueError(f'{name} must be positive and finite, got {value!r}.')
