"""Reading a value off a rate-distortion curve: one rule for every reader.

`apps.compare` tabulates runs side by side (the distortion of each at shared
rates, the rate of each at shared distortions) and `apps.findings` judges the
paper's claims from distortions read at given rates. Both ask "what is the
distortion where this curve reaches rate R", and if they answered with
different rules, the table and the verdicts could disagree about the same
curve. This module is the one answer; both call it.

(`tfrd.plotting.value_at_beta` answers another question, the value at a
given β, where a BDMC gap is drawn on the figure. It interpolates in log β
along the schedule and is not a way to read a curve at a rate.)

The rule: **the first crossing along the curve**. Walk the recorded points
in β order (the order AIS visits them), take the first segment whose range
holds the query, and interpolate linearly between its two points. Points
with a non-finite coordinate are stepped over. A curve that never reaches
the query gives None.

Why this rule and not the running maximum of the rate that `apps.findings`
used before (which keeps the abscissa increasing when AIS noise makes the
rate dip by a hair between close betas):

- On a monotone curve the two are the same reading, bit for bit.
- Behind a dip, the running maximum reads the next segment as if it started
  at a rate the curve never had. The interpolated mean rate at the reading
  is then not R, and the delta method's per-image influence (below) no
  longer averages to the value it accompanies. The first crossing
  interpolates between recorded points only: the curve passes exactly
  through (R, D) there, at the least β at which it reaches R.
- It reads the converse question (the rate at a distortion) by the same
  rule with the axes swapped; the running maximum would need a second rule
  (a running minimum of the distortion) for it.
"""

import collections

import numpy as np

__all__ = ['Crossing', 'Reading', 'first_crossing', 'value_where',
           'distortion_at_rate']


class Crossing(collections.namedtuple('Crossing',
                                      ['lower', 'upper', 'weight'])):
  """Where a curve first reaches a value.

  Attributes:
    lower, upper: indices of the segment's two points in the curve's arrays
      (equal for a curve of one point).
    weight: the reading is (1 - weight) at `lower` plus weight at `upper`.
  """
  __slots__ = ()

  def interpolate(self, values):
    """`values` (indexed like the curve's points along axis 0) at the
    crossing."""
    values = np.asarray(values, np.float64)
    return ((1 - self.weight) * values[self.lower] +
            self.weight * values[self.upper])


Reading = collections.namedtuple('Reading', ['value', 'influence'])
Reading.__doc__ = """A distortion read off a curve at a rate.

Fields:
  value: the distortion (a mean over images).
  influence: None, or [N] per-image contributions whose mean is `value` to
    first order (the delta method; see `distortion_at_rate`).
"""


def first_crossing(xs, query, ys=None):
  """Where the polyline through the points, in their order, first reaches x.

  Args:
    xs: [P] the points' abscissae, in β order.
    query: the x to reach.
    ys: optional [P] ordinates; points where either is non-finite are
      stepped over (the segment joins their finite neighbours).

  Returns:
    A `Crossing`, or None if the curve does not reach `query`.
  """
  xs = np.asarray(xs, np.float64)
  finite = np.isfinite(xs)
  if ys is not None:
    finite &= np.isfinite(np.asarray(ys, np.float64))
  (indices,) = np.nonzero(finite)
  for lower, upper in zip(indices[:-1], indices[1:]):
    low, high = sorted((xs[lower], xs[upper]))
    if low <= query <= high:
      weight = (0.0 if high == low else
                (query - xs[lower]) / (xs[upper] - xs[lower]))
      return Crossing(int(lower), int(upper), float(weight))
  if indices.size == 1 and xs[indices[0]] == query:
    return Crossing(int(indices[0]), int(indices[0]), 0.0)
  return None


def value_where(xs, ys, query):
  """y where the curve through (xs, ys), in β order, first reaches x = query.

  E.g. `value_where(rate, distortion, R)` is the distortion at rate R and
  `value_where(distortion, rate, D)` the rate at distortion D.

  Returns:
    A float, or None if the curve does not reach `query`.
  """
  crossing = first_crossing(xs, query, ys)
  return None if crossing is None else float(crossing.interpolate(ys))


def distortion_at_rate(rates, distortions, rate, per_image=None):
  """The distortion where the curve first reaches `rate` (module docstring).

  With per-image values, the reading is their interpolation's mean, and each
  image's influence follows the delta method: where the mean rate crosses
  `rate` moves with every image's rate too, so image i contributes
  d_i - slope · (r_i - rate), both interpolated at the crossing, where slope
  is the segment's dD/dR. Two readings of the same images are then compared
  through the difference of their influences, image by image.

  Args:
    rates, distortions: [P] the curve's points (means over images), in β
      order.
    rate: the rate R to read at.
    per_image: optional (rate_per_image, distortion_per_image), each [P, N],
      whose means over images are `rates` and `distortions`.

  Returns:
    A `Reading`, or None if the curve does not reach `rate`.
  """
  crossing = first_crossing(rates, rate, distortions)
  if crossing is None:
    return None
  if per_image is None:
    return Reading(float(crossing.interpolate(distortions)), None)
  rate_per_image, distortion_per_image = per_image
  rates = np.asarray(rates, np.float64)
  distortions = np.asarray(distortions, np.float64)
  width = rates[crossing.upper] - rates[crossing.lower]
  slope = (0.0 if width == 0 else
           (distortions[crossing.upper] - distortions[crossing.lower]) /
           width)
  distortion = crossing.interpolate(distortion_per_image)
  influence = distortion - slope * (
      crossing.interpolate(rate_per_image) - rate)
  return Reading(float(distortion.mean()), influence)
