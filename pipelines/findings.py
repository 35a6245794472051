r"""The paper's findings, judged from the numbers apps.reproduce recorded.

Why a module of its own: the judges of the claims are the reproduction's
conclusion, and REPORT.md quotes them. `apps.findings` prints them for a
--results_dir; tests and users' scripts call `load_results`, `evaluate`,
`figures_table` and `markdown` (or `report`) directly. REPORT.md's tables
are `report('report/cpu')` (tests/test_findings.py checks that they still
are), so they cannot drift from the committed results.

It reads every FIGURE/results.json under a results directory and writes a
table of the figures, then one row per claim of Huang et al. (2020) (the
claim and its verdict), then each claim's evidence after the paper's own
sentence. A judge tests that sentence, no more and no less: each thing it
says is one group of checks, one-sided where the sentence is ("does not
improve" is `compare`'s 'not lower'), and a bound is met only beyond the
value's standard error (`at_most`, `at_least`).

How a claim becomes numbers. Curves are compared where the paper's figures
compare them, in three regimes read along the rate axis:

  low rate    the distortion at `LOW_RATE` nats (or, for curves that start
              a little above it, below `LOW_RATE_LIMIT`, the lowest rate
              both reach), read where the curve first reaches that rate
              (`pipelines.curves.distortion_at_rate`, the rule apps.compare
              tabulates with too);
  mid rate    the distortion at `MID_RATE` nats, or at the highest rate both
              curves reach if one stops below it;
  high rate   the lowest distortion the curve reaches (its point at the
              largest beta): how far left the curve extends.

Every curve of a figure runs on the same test images, so a difference is
judged by the standard error se of the per-image differences (paired). A
value read at a rate includes, by the delta method, the uncertainty of where
the curve crosses that rate. With k = `SIGNIFICANCE`:

- 'A lower than B' holds when D_A + k*se < D_B, fails when D_A - k*se > D_B,
  and is unresolved in between;
- 'A same as B' holds when |D_A - D_B| is within k*se or within
  `SAME_FRACTION` of the span of B's distortions over its curve.

These standard errors come from the images only. AIS's own bias (its rate is
an upper bound, its log Z a lower one) is not in them. Where a curve carries
its own BDMC check (the 'accuracy' record apps.reproduce writes at the cpu
and paper budgets, or fig9's gaps), the gap plus k standard errors at each
checked beta, interpolated in log beta (`Curve.gap_at_beta`), bounds that
bias: a distortion read at rate R may truly be as low as the one read at
R + gap, a log-likelihood as high as log Z + gap (`Value.ais_range`). A
comparison whose outcome would change within those ranges is 'ais gap'
rather than holds or fails. A claim is *reproduced* when every comparison
holds, *not reproduced* when one fails, *inconclusive (AIS gap)* when none
fails but one is decided only within AIS's error, *inconclusive at this
budget* when one is unresolved by the noise, and *not tested* when its
figures are absent.

NumPy only: no TensorFlow, no flags.
"""

import collections
import functools
import json
import math
import os

import numpy as np

from pipelines import curves as curves_lib

# A rate in the low-rate regime every curve of the paper's MNIST figures
# passes through (the budgets start at beta = 1/12, where rates are < 1 nat).
LOW_RATE = 1.0
# A curve that starts below this rate still reaches the low-rate regime
# (a damaged prior raises the rate at the lowest beta: fig5a starts at 1-2
# nats); one that starts above it does not.
LOW_RATE_LIMIT = 3.0
# A rate in the mid regime: beyond the low-rate bend of every curve, below
# where the 2-dimensional codes saturate.
MID_RATE = 10.0
# Differences smaller than this many combined standard errors are not
# claimed either way (about a 95% two-sided interval).
SIGNIFICANCE = 2.0
# Two curves count as the same at a point when they differ by less than
# this fraction of the reference curve's span (its largest minus smallest
# value: about a line's width on axes drawn to fit the curve) or by less
# than the margin: a sameness claim cannot ask for exact equality, which
# paired standard errors of a few hundredths would otherwise demand. A span
# rather than the value itself, because NLL distortions carry an arbitrary
# offset.
SAME_FRACTION = 0.05
# The paper's largest BDMC gaps (Fig. 9, appendix D.3.2), in nats.
PAPER_BDMC_GAP = {'vae': 0.127, 'aae': 0.127, 'wgan_gp': 1.649}

REPRODUCED = 'reproduced'
NOT_REPRODUCED = 'not reproduced'
INCONCLUSIVE = 'inconclusive at this budget'
# A comparison the curves' own BDMC check cannot support: the difference
# would change side within the gap AIS may be off by (see `compare`).
INCONCLUSIVE_AIS = 'inconclusive (AIS gap)'
NOT_TESTED = 'not tested'

Finding = collections.namedtuple(
    'Finding', ['number', 'claim', 'verdict', 'evidence', 'checks', 'quote'])
Finding.__doc__ = """One claim of the paper and what the results say.

Fields:
  number: its number in issue 13's list (1-11), then 13 to 16 (issue
    22's); 12 is tfrd's own check against quadrature.
  claim: the claim, in a line.
  verdict: REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INCONCLUSIVE_AIS or
    NOT_TESTED.
  evidence: the numbers it rests on, as markdown.
  checks: the `Check`s behind the verdict.
  quote: the paper's sentence(s) the judge tests, verbatim ('[...]' marks
    a cut), with where they stand; None for tfrd's own check.
"""

class Value:
  """A number read off a curve, with what its uncertainty over images is.

  Attributes:
    value: the number (a mean over images).
    influence: [N] per-image contributions whose mean is `value` to first
      order (None for numbers recorded with a standard error only); two
      values of the same images are compared through the difference of their
      influences, image by image.
    stderr: its standard error over images.
    where: where it was read ('R=1', 'beta=1000', ...).
    ais_range: (lowest, highest) the value could be if AIS is off by as
      much as the curve's BDMC check allows (`Curve.gap_at_beta`), or None
      where the curve has no check or the value does not depend on it.
  """

  def __init__(self, value, where, influence=None, stderr=None,
               ais_range=None):
    self.value = float(value)
    self.where = where
    self.influence = None if influence is None else np.asarray(influence)
    self.stderr = (float(stderr) if stderr is not None else
                   _stderr(self.influence))
    self.ais_range = ais_range

  def minus(self, other, where):
    """self - other, image by image, its AIS range the widest the two
    allow."""
    ais_range = None
    if self.ais_range or other.ais_range:
      mine = self.ais_range or (self.value, self.value)
      theirs = other.ais_range or (other.value, other.value)
      ais_range = (mine[0] - theirs[1], mine[1] - theirs[0])
    influence = (None if self.influence is None or other.influence is None
                 else self.influence - other.influence)
    return Value(self.value - other.value, where, influence,
                 stderr=(None if influence is not None else
                         math.hypot(self.stderr, other.stderr)),
                 ais_range=ais_range)


def _stderr(values):
  return float(np.std(values, ddof=1) / np.sqrt(values.size))


Check = collections.namedtuple('Check', ['outcome', 'text'])
Check.__doc__ = """One comparison: outcome 'holds', 'fails', 'unresolved' (by
the noise) or 'ais gap' (it would change within the error the curves' own
BDMC checks allow AIS), and the numbers as text."""


class Curve:
  """One curve record of a results.json, its points sorted by beta."""

  def __init__(self, record):
    self.name = record['name']
    self.label = record['label']
    self.record = record
    order = np.argsort([point['beta'] for point in record['points']])
    per_image = record.get('per_image')
    if per_image is None:
      raise FindingsError(
          f'curve {self.name} has no per-image values (a results.json '
          f'written before apps.findings); delete that results.json and run '
          f'the same apps.reproduce command again: it reuses the curves.')
    self.image_indices = list(per_image['image_indices'])
    self.beta = np.array([record['points'][i]['beta'] for i in order])
    self.rate_per_image = np.asarray(per_image['rate'], np.float64)[order]
    self.distortion_per_image = np.asarray(per_image['distortion'],
                                           np.float64)[order]
    self.log_z_per_image = np.asarray(per_image['log_z'], np.float64)[order]
    self.rate = self.rate_per_image.mean(axis=1)
    self.distortion = self.distortion_per_image.mean(axis=1)
    self.checked_gaps = _checked_gaps(record)

  def gap_at_beta(self, beta):
    """How far AIS may be off at `beta`, in nats, by the curve's own BDMC
    check: the gap plus SIGNIFICANCE standard errors at each checked beta,
    interpolated linearly in log beta between them (held beyond the ends);
    None for an unchecked curve."""
    if not self.checked_gaps:
      return None
    betas, bounds = zip(*self.checked_gaps)
    return float(np.interp(math.log(beta), np.log(betas), bounds))

  def _beta_at_rate(self, rate):
    # Rates grow with beta; the running maximum keeps np.interp's abscissa
    # monotone where noise makes two neighbours dip.
    return math.exp(np.interp(rate, np.maximum.accumulate(self.rate),
                              np.log(self.beta)))

  def distortion_at_rate(self, rate):
    """The distortion where the curve first reaches `rate`, or None if it
    never does (`pipelines.curves.distortion_at_rate`).

    Its influence is the delta method's: where the mean rate crosses `rate`
    depends on every image's rate too, so image i contributes
    d_i - slope * (r_i - rate), both interpolated at the crossing.
    """
    reading = curves_lib.distortion_at_rate(
        self.rate, self.distortion, rate,
        per_image=(self.rate_per_image, self.distortion_per_image))
    if reading is None:
      return None
    # AIS overstates rates (eq. 15) by at most the gap: the true curve
    # reaches this rate with a distortion between the one read here and the
    # one read a gap further right (the left end where that is beyond it).
    ais_range = None
    gap = self.gap_at_beta(self._beta_at_rate(rate))
    if gap is not None:
      further = curves_lib.distortion_at_rate(self.rate, self.distortion,
                                              rate + gap)
      best = self.distortion[-1] if further is None else further.value
      ais_range = (min(best, reading.value), reading.value)
    return Value(reading.value, f'R={rate:.3g}', reading.influence,
                 ais_range=ais_range)

  def lowest_distortion(self):
    """The distortion at the largest beta: the curve's left end."""
    return Value(self.distortion[-1], f'beta={self.beta[-1]:.4g}',
                 self.distortion_per_image[-1])

  def log_likelihood(self):
    """log p(x) at beta = 1 (the log Z column), for an NLL distortion."""
    (index,) = np.nonzero(self.beta == 1.0)[0][:1]
    value = self.log_z_per_image[index].mean()
    # AIS's log Z is a stochastic lower bound: it may be low by the gap.
    gap = self.gap_at_beta(1.0)
    return Value(value, 'beta=1', self.log_z_per_image[index],
                 ais_range=None if gap is None else (value, value + gap))


def _checked_gaps(record):
  """[(beta, gap + SIGNIFICANCE s.e.)] of a curve's BDMC check (its
  'accuracy' record, else fig9's 'bdmc' points), sorted by beta.

  A point without a standard error (one simulated image and one chain) has
  no bound to give: it is left out, and a check with no such bound counts
  as no check (None), never as a gap known exactly.
  """
  accuracy = record.get('accuracy') or {}
  points = accuracy.get('gaps') or record.get('bdmc') or []
  gaps = sorted((point['beta'], max(0.0, point['mean_gap'] + SIGNIFICANCE *
                                    point['gap_stderr']))
                for point in points
                if point.get('mean_gap') is not None and
                point.get('gap_stderr') is not None)
  return gaps or None


def _span(curve):
  return f'{curve.rate.min():.3g} to {curve.rate.max():.3g} nats'


def _number(value):
  return f'{value.value:.3g}±{value.stderr:.2g}'


def _margin(a, b, same_images):
  """SIGNIFICANCE standard errors of a - b: image by image when both are
  read off the same images, else as independent."""
  if same_images and a.influence is not None and b.influence is not None:
    return SIGNIFICANCE * _stderr(a.influence - b.influence)
  return SIGNIFICANCE * math.hypot(a.stderr, b.stderr)


def compare(a_curve, a, relation, b_curve, b):
  """Checks `a relation b` for values read off two curves.

  Args:
    a_curve, b_curve: the `Curve`s they were read off (labels, images).
    a, b: `Value`s (or None where a curve does not reach the point).
    relation: 'lower', 'higher' or 'same'; or 'not lower' / 'not higher'
      for a sentence that only rules one direction out ("does not
      improve"): it fails only when a is beyond the margin on the side
      ruled out.

  Returns:
    A `Check`; the margin is paired when both curves used the same images.
  """
  if a is None or b is None:
    missing = a_curve.label if a is None else b_curve.label
    return Check('unresolved', f'{missing} does not reach that rate (its '
                 f'rates span {_span(a_curve if a is None else b_curve)})')
  margin = _margin(a, b, a_curve.image_indices == b_curve.image_indices)
  difference = a.value - b.value
  where = a.where if a.where == b.where else f'{a.where} vs {b.where}'
  text = (f'{a_curve.label} {_number(a)} vs {b_curve.label} {_number(b)} '
          f'({where}; diff {difference:+.3g}, margin {margin:.2g})')
  # 'The same' (also the same side of a one-sided relation): within the
  # margin or a line's width on the paper's axes.
  tolerance = max(margin, SAME_FRACTION * np.ptp(b_curve.distortion))
  outcome = _outcome(relation, difference, margin, tolerance)
  if outcome == 'unresolved' or not (a.ais_range or b.ais_range):
    return Check(outcome, text)
  # Where the curves' BDMC checks bound AIS's error, the outcome must be
  # the same at both ends of the range the difference may truly take.
  a_range = a.ais_range or (a.value, a.value)
  b_range = b.ais_range or (b.value, b.value)
  ends = (a_range[0] - b_range[1], a_range[1] - b_range[0])
  # Every relation's outcome is monotone in the difference, or (for 'same'
  # failing) the same on either side of zero: the two ends decide.
  straddles_zero = relation == 'same' and ends[0] < 0 < ends[1]
  if not straddles_zero and all(
      _outcome(relation, end, margin, tolerance) == outcome for end in ends):
    return Check(outcome, text)
  return Check('ais gap', f'{text}; within AIS\'s error the difference may '
               f'be {ends[0]:+.3g} to {ends[1]:+.3g}')


def _outcome(relation, difference, margin, tolerance):
  """`compare`'s outcome for one difference a - b."""
  if relation == 'same':
    return 'holds' if abs(difference) <= tolerance else 'fails'
  if relation.startswith('not '):
    ruled_out = 1.0 if relation == 'not higher' else -1.0
    return 'fails' if ruled_out * difference > tolerance else 'holds'
  sign = 1.0 if relation == 'lower' else -1.0
  if sign * difference < -margin:
    return 'holds'
  if sign * difference > margin:
    return 'fails'
  return 'unresolved'


def at_most(label, value, bound, bound_text):
  """Checks value <= bound within its standard error: holds when the value
  is below the bound by SIGNIFICANCE standard errors, fails when above it
  by as many, unresolved in between (a mean below the bound by less than
  its noise does not show that it is below). A value with an AIS range
  must give the same outcome at both its ends, else 'ais gap'."""
  return _bound(label, value, bound, bound_text, -1.0)


def at_least(label, value, bound, bound_text):
  """Checks value >= bound, as `at_most` checks the other side."""
  return _bound(label, value, bound, bound_text, 1.0)


def _bound(label, value, bound, bound_text, side):
  text = (f'{label} {_number(value)} vs {bound_text} {bound:.3g} '
          f'(margin {SIGNIFICANCE * value.stderr:.2g})')
  noise = SIGNIFICANCE * value.stderr

  def outcome(number):
    if side * (number - bound) >= noise:
      return 'holds'
    if side * (number - bound) < -noise:
      return 'fails'
    return 'unresolved'

  found = outcome(value.value)
  if found != 'unresolved' and value.ais_range and any(
      outcome(end) != found for end in value.ais_range):
    low, high = value.ais_range
    return Check('ais gap', f'{text}; within AIS\'s error it may be '
                 f'{low:.3g} to {high:.3g}')
  return Check(found, text)


def verdict(checks):
  """NOT_REPRODUCED if a check fails; else INCONCLUSIVE_AIS if one is
  decided only within AIS's error; else INCONCLUSIVE if one is unresolved
  by the noise; else REPRODUCED."""
  outcomes = {check.outcome for check in checks}
  if 'fails' in outcomes:
    return NOT_REPRODUCED
  if 'ais gap' in outcomes:
    return INCONCLUSIVE_AIS
  if 'unresolved' in outcomes or not checks:
    return INCONCLUSIVE
  return REPRODUCED


_MARK = {'holds': '✓', 'fails': '✗', 'unresolved': '?', 'ais gap': '≈'}


def evidence(groups):
  """One markdown bullet per regime, its checks marked and separated."""
  return ''.join(
      f'\n- {title}: ' + '; '.join(f'{_MARK[c.outcome]} {c.text}'
                                   for c in checks) + '.'
      for title, checks in groups)


def mid(a, b):
  """The mid-rate values of two curves: at MID_RATE, or at the highest rate
  both reach when one stops below it, or, for curves that start above it
  (NLL curves), at the geometric middle of the rates both cover."""
  lowest = max(a.rate.min(), b.rate.min())
  highest = min(a.rate.max(), b.rate.max())
  rate = (math.sqrt(lowest * highest) if MID_RATE < lowest
          else min(MID_RATE, highest))
  return a.distortion_at_rate(rate), b.distortion_at_rate(rate)


def low(a, b):
  """The low-rate values of two curves: at LOW_RATE, or at the lowest rate
  both reach when one starts above it but below LOW_RATE_LIMIT (None where
  a curve starts above that: it never reached the low-rate regime)."""
  rate = max(LOW_RATE, a.rate.min(), b.rate.min())
  if rate > LOW_RATE_LIMIT:
    rate = LOW_RATE  # reported as not reached
  return a.distortion_at_rate(rate), b.distortion_at_rate(rate)


def _claim(number, figures, claim, quote=None):
  """Makes `judge(results)` the evaluation of one claim.

  The judge tests `quote`, the paper's sentence, no more and no less: one
  group of checks per thing the sentence says, one-sided where the
  sentence is. It returns its comparisons as [(regime, [Check, ...]),
  ...], or a string saying why the claim cannot be tested; the claim is
  not tested, without calling it, when one of `figures` is missing.
  """
  def decorate(judge):
    @functools.wraps(judge)
    def evaluate(results):
      missing = [name for name in figures if name not in results]
      groups = (f'{" and ".join(missing)} '
                f'{"was" if len(missing) == 1 else "were"} not run.'
                if missing else judge(results))
      if isinstance(groups, str):
        return Finding(number, claim, NOT_TESTED, groups, [], quote)
      checks = [check for unused, group in groups for check in group]
      return Finding(number, claim, verdict(checks), evidence(groups),
                     checks, quote)
    evaluate.quote = quote
    return evaluate
  return decorate


# The claims, in issue 13's order. Each takes {figure: results document}.


def _curves(document, prefix=''):
  return {record['name']: Curve(record) for record in document['curves']
          if record['name'].startswith(prefix)}


def _family_curves(document, family):
  """fig4's curves of one model family, by code size."""
  curves = {}
  for record in document['curves']:
    model = record.get('model') or {}
    if model.get('family') == family:
      curves[model['code_size']] = Curve(record)
  return dict(sorted(curves.items()))


def _gan_code_pairs(curves):
  """(smaller, larger) code-size pairs of GAN curves of one depth, next
  sizes only, for each depth present."""
  pairs = []
  for depth in ('shallow', 'deep'):
    by_size = sorted(((c.record['model']['code_size'], c)
                      for c in curves.values()
                      if c.record['model'].get('depth', 'shallow') == depth),
                     key=lambda item: item[0])
    pairs += [(depth, small, big) for (unused, small), (unused, big)
              in zip(by_size, by_size[1:])]
  return pairs


@_claim(1, ('fig3a',),
        'GANs: a larger code extends the curve leftwards (§6.1, Fig. 3a)',
        ('"In both the MNIST and CIFAR experiments, we observe that in '
         'general increasing the code size has the effect of *extending the '
         'curve leftwards*." (§6.1)'))
def gan_code_size(results):
  # Leftwards: to lower distortion at the high-rate end (the paper's axes
  # put distortion on x).
  pairs = _gan_code_pairs(_curves(results['fig3a']))
  return [(f'{depth}, high rate', [
      compare(big, big.lowest_distortion(), 'lower', small,
              small.lowest_distortion())
      for where, small, big in pairs if where == depth])
          for depth in ('shallow', 'deep')]


@_claim(2, ('fig3a',),
        ('Depth moves GAN curves down and left at high and mid rates; '
         'neither depth nor code size improves the low-rate end (Fig. 3a)'),
        ('"We can also observe from Fig. 3a that increasing the depth pushes '
         'the curves *down and to the left*. In other words, the distortion '
         'in both high-rate and mid-rate regimes improves. [...] In the '
         'low-rate regime, however, increasing the depth, similar to '
         'increasing the latent size, does not improve the distortion." '
         '(§6.1)'))
def gan_depth(results):
  curves = _curves(results['fig3a'])
  high, middle, lowest = [], [], []
  for name, deep in curves.items():
    if not name.startswith('deep_'):
      continue
    shallow = curves['shallow_' + name[len('deep_'):]]
    high.append(compare(deep, deep.lowest_distortion(), 'lower',
                        shallow, shallow.lowest_distortion()))
    a, b = mid(deep, shallow)
    middle.append(compare(deep, a, 'lower', shallow, b))
    a, b = low(deep, shallow)
    lowest.append(compare(deep, a, 'not lower', shallow, b))
  # "similar to increasing the latent size": larger codes, one-sided too.
  code = []
  for unused, small, big in _gan_code_pairs(curves):
    a, b = low(big, small)
    code.append(compare(big, a, 'not lower', small, b))
  return [('high rate', high), ('mid rate', middle),
          ('low rate, depth (does not improve)', lowest),
          ('low rate, code size (does not improve)', code)]


@_claim(3, ('fig4',),
        ('At mid and high rates VAEs reach lower distortion than GANs with '
         'the same decoder (Fig. 4)'),
        ('"In general, we can see that in the mid-rate to high-rate regimes, '
         'VAEs achieve better distortions than GANs with the same '
         'architecture." (§6.1)'))
def vae_below_gan(results):
  vaes = _family_curves(results['fig4'], 'vae')
  gans = _family_curves(results['fig4'], 'wgan_gp')
  middle, high = [], []
  for size, vae in vaes.items():
    gan = gans[size]
    a, b = mid(vae, gan)
    middle.append(compare(vae, a, 'lower', gan, b))
    high.append(compare(vae, vae.lowest_distortion(), 'lower',
                        gan, gan.lowest_distortion()))
  return [('mid rate', middle), ('high rate', high)]


@_claim(4, ('fig4',),
        ('Larger VAE codes improve the high-rate end and worsen the '
         'low-rate end (Fig. 4)'),
        ('"in VAEs, there is a trade-off whereby increasing the capacity '
         'reduces the distortion at the high-rate regime, at the expense of '
         'increasing the distortion in the low-rate regime" (§6.1)'))
def vae_code_size(results):
  by_size = list(_family_curves(results['fig4'], 'vae').values())
  pairs = list(zip(by_size, by_size[1:]))
  return [
      ('high rate', [compare(big, big.lowest_distortion(), 'lower',
                            small, small.lowest_distortion())
                    for small, big in pairs]),
      ('low rate', [compare(big, low(big, small)[0], 'higher',
                           small, low(big, small)[1])
                   for small, big in pairs])]


@_claim(5, ('fig4',),
        'AAEs match GANs at low rate and beat them at high rate (Fig. 4)',
        ('"In comparison to GANs, AAEs can match the low-rate performane '
         '[sic] of GANs, but achieve a better high-rate performance." '
         '(§6.1)'))
def aae_against_gan(results):
  lowest, high = _aae_against(results['fig4'], 'wgan_gp', 'same', 'lower')
  return [('low rate (match)', lowest), ('high rate (better)', high)]


def _aae_against(document, family, low_relation, high_relation):
  """fig4's AAEs against `family` at each code size: the low-rate checks
  and the high-rate-end checks, with the sentence's relations."""
  others, aaes = (_family_curves(document, name)
                  for name in (family, 'aae'))
  lowest, high = [], []
  for size, aae in aaes.items():
    other = others[size]
    a, b = low(aae, other)
    lowest.append(compare(aae, a, low_relation, other, b))
    high.append(compare(aae, aae.lowest_distortion(), high_relation,
                        other, other.lowest_distortion()))
  return lowest, high


@_claim(6, ('fig5a',),
        ('The mixture prior hurts the low-rate regime, leaves the high-rate '
         'one almost identical, and costs at most -log(1 - alpha) of '
         'log-likelihood (eq. 18, Fig. 5a)'),
        ('"It is straightforward to see that log q(x) is at most 4.6 nats '
         'worse that [sic] log p(x) [...] We can see that the high-rate and '
         'log-likelihood performance of the good and poor generative models '
         'are almost identical, whereas in the low-rate regime, the RD '
         'curves show significant drop in the performance" (§6.2, eq. 18, '
         'for alpha = 0.99; in general log q(x) > log p(x) + log(1 - alpha))'))
def mixture_prior(results):
  curves = _curves(results['fig5a'])
  long_runs = {name[:-len('_long')]: curves.pop(name)
               for name in list(curves) if name.endswith('_long')}
  base = curves.pop('alpha0')
  lowest, high, likelihood = [], [], []
  base_ll = base.log_likelihood()
  for curve in curves.values():
    alpha = float(curve.name[len('alpha'):])
    a, b = low(curve, base)
    lowest.append(compare(curve, a, 'higher', base, b))
    # High-rate performance: the distortion at the highest rate both curves
    # reach, so that a curve needing more rate for the same distortion
    # (the damaged prior's at beta_max) is not read as the same.
    rate = min(curve.rate.max(), base.rate.max())
    high.append(compare(curve, curve.distortion_at_rate(rate), 'same',
                        base, base.distortion_at_rate(rate)))
    change = curve.log_likelihood().minus(base_ll, 'beta=1')
    # Eq. 18 bounds the drop only: a rise is not what it rules out.
    likelihood.append(at_least(
        f'log p(x) change at alpha={alpha:g}', change,
        math.log1p(-alpha), 'log(1 - alpha)'))
  groups = [('low rate (significant drop)', lowest),
             ('high rate (almost identical)', high),
             ('log-likelihood (at most -log(1 - alpha) worse)', likelihood)]
  if 'alpha0' in long_runs and len(long_runs) > 1:
    groups.append(_likelihood_on_a_longer_schedule(
        long_runs, {'alpha0': base, **curves}))
  return groups


def _likelihood_on_a_longer_schedule(long_runs, short_runs):
  """Claim 6's log-likelihood bound again on the runs to beta = 1 with a
  longer schedule; the title says how far the longer schedule moved each
  log-likelihood, which tells the model's change from AIS's error."""
  moved = []
  for name, curve in sorted(long_runs.items()):
    change = curve.log_likelihood().minus(short_runs[name].log_likelihood(),
                                          'beta=1')
    moved.append(f'{name} by {_number(change)}')
  base = long_runs.pop('alpha0')
  checks = [at_least(f'log p(x) change at alpha={name[len("alpha"):]}',
                     curve.log_likelihood().minus(base.log_likelihood(),
                                                  'beta=1'),
                     math.log1p(-float(name[len('alpha'):])), 'log(1 - alpha)')
            for name, curve in sorted(long_runs.items())]
  transitions = base.record.get('num_transitions')
  return (f'log-likelihood on a longer schedule to beta = 1 ({transitions} '
          f'transitions), which moved {"; ".join(moved)} nats', checks)


@_claim(7, ('fig5b',),
        ('Blur hurts the high-rate regime and helps the extreme low-rate '
         'one (Fig. 5b)'),
        ('"the high-rate performance of the VAE drops due to inability of '
         'the decoder to output sharp images. However, we can also see an '
         'improvement in the low-rate performance of the VAE. [...] in the '
         'extremely low-rate regime, blurring appears to help" (§6.2)'))
def blur(results):
  curves = _curves(results['fig5b'])
  sharp = curves.pop('sigma0')
  # The lowest rate every curve reaches: the extreme low-rate end.
  extreme = max(c.rate.min() for c in list(curves.values()) + [sharp])
  high, lowest = [], []
  for curve in curves.values():
    high.append(compare(curve, curve.lowest_distortion(), 'higher',
                        sharp, sharp.lowest_distortion()))
    lowest.append(compare(curve, curve.distortion_at_rate(extreme),
                          'lower', sharp,
                          sharp.distortion_at_rate(extreme)))
  return [('high rate (hurt)', high), ('extreme low rate (helped)', lowest)]


@_claim(8, ('fig4', 'fig6'),
        ('The deep-feature distortion gives the same qualitative picture as '
         'squared error (Fig. 6)'),
        ('"In all cases, the qualitative behavior of the RD curves with this '
         'distortion metric closely matches the qualitative behaviors for '
         'pixelwise MSE." (§6.3)'))
def deep_features(results):
  checks = []
  pixel = {family: _family_curves(results['fig4'], family)
           for family in ('vae', 'wgan_gp', 'aae')}
  feature = {family: _family_curves(results['fig6'], family)
             for family in ('vae', 'wgan_gp', 'aae')}
  differing = sorted(
      feature[family][size].label for family in feature
      for size in feature[family] if size in pixel[family] and
      feature[family][size].record.get('model') !=
      pixel[family][size].record.get('model'))
  if differing:
    # Orders of different models say nothing about the distortion.
    return (f'fig6\'s {", ".join(differing)} are not the models of fig4 '
            '(their training settings or recipes differ); rerun '
            'apps.reproduce --figure=fig6 beside fig4.')
  for size in feature['vae']:
    for first, second in (('vae', 'wgan_gp'), ('vae', 'aae'),
                          ('aae', 'wgan_gp')):
      for regime in ('mid rate', 'high rate'):
        orders = [_order(curves[first][size], curves[second][size], regime)
                  for curves in (pixel, feature)]
        if orders[0] == orders[1] != 'tie':
          outcome = 'holds'
        elif 'tie' in orders:
          outcome = 'unresolved'
        else:
          outcome = 'fails'
        checks.append(Check(outcome, (
            f'{regime}, {feature[first][size].label} vs '
            f'{feature[second][size].label}: {orders[0]} under squared '
            f'error, {orders[1]} under features')))
  return [('the order of the models, figure by figure', checks)]


def _order(a, b, regime):
  """'lower', 'higher' or 'tie': where curve a sits against b."""
  if regime == 'high rate':
    values = a.lowest_distortion(), b.lowest_distortion()
  else:
    values = mid(a, b)
  outcome = compare(a, values[0], 'lower', b, values[1]).outcome
  return {'holds': 'lower', 'fails': 'higher'}.get(outcome, 'tie')


@_claim(9, ('fig7',),
        'The analytic and AIS curves of the linear VAE agree (Fig. 7)',
        ('"As shown in Fig. 7, the RD curve estimated by AIS agrees closely '
         'with the analytical solution." (appendix B)'))
def linear_vae(results):
  checks = []
  for name, exact in results['fig7']['exact'].items():
    checks.append(Check(
        'holds' if exact['within_tolerance'] else 'fails',
        f'{name}: largest rate error {exact["max_rate_error_nats"]:.3g} nats, '
        f'largest relative distortion error '
        f'{exact["max_distortion_relative_error"]:.2g}, '
        f'{"within" if exact["within_tolerance"] else "outside"} '
        f'tfrd.compare_with_exact\'s tolerance'))
  return [('AIS against the closed form', checks)]


@_claim(10, ('fig8',),
        ('The preliminary run and frozen-step-size runs with other seeds '
         'give nearly the same curve for VAE10 (Fig. 8)'),
        ('"Interestingly, we observed that the difference in the RD curves '
         'obtained from the preliminary run and the formal runs with various '
         'different random seeds is very small, as shown in Fig. 8." '
         '(appendix D.2)'))
def seeds(results):
  model = results['fig8']['curves'][0].get('model') or {}
  if (model.get('family'), model.get('code_size')) != ('vae', 10):
    # The paper's sentence is about its VAE10's runs; another model's
    # seeds would test a different sentence.
    return (f'fig8 was run on {model.get("family")}{model.get("code_size")}'
            ', not the paper\'s VAE10; rerun apps.reproduce --figure=fig8.')
  curves = _curves(results['fig8'])
  preliminary = curves.pop('preliminary')
  checks = []
  for curve in curves.values():
    for column in ('rate', 'distortion'):
      ours = getattr(curve, column + '_per_image')
      theirs = getattr(preliminary, column + '_per_image')
      # The same rule as every 'same' comparison, point by point: within the
      # paired margin or SAME_FRACTION of the preliminary curve's span.
      moved = ours.mean(axis=1) - theirs.mean(axis=1)
      margin = SIGNIFICANCE * (ours - theirs).std(axis=1, ddof=1) / np.sqrt(
          ours.shape[1])
      tolerance = np.maximum(margin, SAME_FRACTION * np.ptp(
          theirs.mean(axis=1)))
      worst = int(np.argmax(np.abs(moved) / tolerance))
      relative = np.max(np.abs(moved) / np.abs(theirs.mean(axis=1)))
      checks.append(Check(
          'holds' if np.all(np.abs(moved) <= tolerance) else 'fails',
          f'{curve.name} {column}: moved {moved[worst]:+.3g} at beta='
          f'{curve.beta[worst]:.3g} against a tolerance of '
          f'{tolerance[worst]:.2g} (the largest share of it); largest '
          f'relative change {relative:.2%}'))
  return [('every point against the preliminary run', checks)]


@_claim(11, ('fig9',),
        ('BDMC gaps are small: at most 0.127 nats for VAEs/AAEs and 1.649 '
         'for GANs in the paper (Fig. 9, D.3.2)'),
        ('"The largest BDMC gap for VAEs and AAEs was 0.127 nats, and the '
         'largest BDMC gap for GANs was 1.649 nats, showing that our AIS '
         'upper bounds are tight." (appendix B)'))
def bdmc_gaps(results):
  checks = []
  for record in results['fig9']['curves']:
    family = record['model']['family']
    for point in record.get('bdmc') or []:
      # A point without a standard error (JSON null) resolves nothing.
      stderr = point.get('gap_stderr')
      gap = Value(point['mean_gap'], f'beta={point["beta"]:g}',
                  stderr=math.inf if stderr is None else stderr)
      checks.append(at_most(
          f'{record["label"]} mean gap at beta={point["beta"]:g} '
          f'(largest per image {point["max_gap"]:.2g})', gap,
          PAPER_BDMC_GAP[family], 'paper\'s'))
  return [('mean gap over simulated images', checks)]


@_claim(12, (),
        ('(tfrd\'s own check, not a claim of the paper) AIS matches the '
         'exact curve of every code-size-2 model, summed on a grid, '
         'wherever the grid converged'))
def grid_reference(results):
  # A figure may rerun another's curve (d4 draws fig4's curves again): the
  # same model, AIS points and grid are one check, named after both.
  checked = {}
  for figure in sorted(results):
    curves = {curve['name']: curve for curve in results[figure]['curves']}
    for name, record in sorted(results[figure].get('quadrature',
                                                   {}).items()):
      curve = curves.get(name)
      grid = {k: v for k, v in record.items() if k != 'wall_time_s'}
      key = (json.dumps([curve.get('model'), curve['points'], grid],
                        sort_keys=True) if curve else (figure, name))
      checked.setdefault(key, (record, []))[1].append(f'{figure}/{name}')
  checks = []
  for record, names in checked.values():
    name = names[0] + (f' (the same curve as {", ".join(names[1:])})'
                       if len(names) > 1 else '')
    betas = record['converged_betas']
    if not betas:
      checks.append(Check('unresolved', (
          f'{name}: the grid converged at no beta (largest '
          f'discretization error {record["max_discretization_error_nats"]:.2g}'
          f' nats)')))
      continue
    checks.append(Check(
        'holds' if record['within_tolerance'] else 'fails',
        f'{name} at the {len(betas)} betas where the grid '
        f'converged ({min(betas):.3g} to {max(betas):.3g}): largest rate '
        f'error {record["max_rate_error_nats"]:.3g} nats, largest '
        f'relative distortion error '
        f'{record["max_distortion_relative_error"]:.2g} '
        f'({"within" if record["within_tolerance"] else "outside"} '
        f'tolerance); grid of {record["num_points"]:,} points'))
  if not checks:
    return 'no figure with code-size-2 curves was run.'
  return [('AIS against the grid', checks)]


@_claim(13, ('fig4',),
        ('AAEs do slightly worse than VAEs at high rate and slightly better '
         'at low rate (Fig. 4)'),
        ('"In comparison to VAEs, AAEs perform slightly worse at the '
         'high-rate regime, [...] But AAEs perform slightly better in the '
         'low-rate regime, as they can alleviate the holes problem to some '
         'extent." (§6.1)'))
def aae_against_vae(results):
  lowest, high = _aae_against(results['fig4'], 'vae', 'lower', 'higher')
  return [('high rate (slightly worse)', high),
          ('low rate (slightly better)', lowest)]


@_claim(14, ('fig3a',),
        ('Larger GAN codes lose nothing at the low-rate end, unlike VAEs '
         '(Fig. 3a)'),
        ('"By contrast, GANs do not suffer from this tradeoff, and one can '
         'train high-capacity GANs without sacrificing performance in the '
         'low-rate regime." (§6.1)'))
def gan_no_tradeoff(results):
  # Capacity as in the VAE tradeoff it contrasts with: the code size. fig4's
  # GAN-GPs are fig3a's shallow ones, so fig3a alone.
  pairs = _gan_code_pairs(_curves(results['fig3a']))
  groups = []
  for depth in ('shallow', 'deep'):
    checks = []
    for where, small, big in pairs:
      if where == depth:
        a, b = low(big, small)
        checks.append(compare(big, a, 'not higher', small, b))
    groups.append((f'{depth}, low rate (not sacrificed)', checks))
  return groups


@_claim(15, ('lossless',),
        'Larger VAE codes give better lossless compression: a higher '
        'log-likelihood at beta = 1 (§1, §7)',
        ('"While VAEs with larger code size can generally achieve better '
         'lossless compression rates [...]" (§1; again in §7)'))
def vae_lossless(results):
  by_size = sorted(((c.record['model']['code_size'], c)
                    for c in _curves(results['lossless']).values()),
                   key=lambda item: item[0])
  checks = []
  for (unused, small), (unused, big) in zip(by_size, by_size[1:]):
    checks.append(compare(big, big.log_likelihood(), 'higher', small,
                          small.log_likelihood()))
  return [('log p(x) at beta = 1 (Gaussian NLL, learned scale)', checks)]


@_claim(16, ('variants',),
        ('GAN variants with the same code size give nearly identical '
         'curves, and the code size dominates (Fig. 3b; here on MNIST)'),
        ('"We also found that different GAN variants with the same code size '
         'has almost similar rate distortion curves, and that the code size '
         'dominates the algorithmic differences of GANs." (§7; Fig. 3b, on '
         'CIFAR-10 in the paper)'))
def gan_variants(results):
  """Each variant against WGAN-GP (the paper's GP-GAN) at its code size, at
  the three regimes; then the code size against the variants: the largest
  spread between variants at a code size, against the smallest step
  between code sizes (means over the variants), at the high-rate end."""
  curves = _curves(results['variants'])
  by_size = collections.defaultdict(dict)
  for curve in curves.values():
    model = curve.record['model']
    by_size[model['code_size']][model['family']] = curve
  same = []
  for size, variants in sorted(by_size.items()):
    reference = variants.get('wgan_gp')
    if reference is None:
      return f'no WGAN-GP curve at code size {size} to compare with.'
    for family, curve in sorted(variants.items()):
      if family == 'wgan_gp':
        continue
      a, b = low(curve, reference)
      same.append(compare(curve, a, 'same', reference, b))
      a, b = mid(curve, reference)
      same.append(compare(curve, a, 'same', reference, b))
      same.append(compare(curve, curve.lowest_distortion(), 'same',
                          reference, reference.lowest_distortion()))
  ends = {size: [c.lowest_distortion().value for c in variants.values()]
          for size, variants in sorted(by_size.items())}
  spread = max(max(values) - min(values) for values in ends.values())
  means = [float(np.mean(values)) for values in ends.values()]
  step = min(abs(b - a) for a, b in zip(means, means[1:]))
  dominates = Check(
      'holds' if spread < step else 'fails',
      f'largest spread between variants at one code size {spread:.3g}, '
      f'smallest step between code sizes {step:.3g} (high-rate ends; '
      f'means by code size ' + ', '.join(
          f'{size}: {mean:.3g}' for size, mean in zip(ends, means)) + ')')
  return [('same code size, against WGAN-GP (almost similar)', same),
          ('code size against variant (dominates)', [dominates])]


CLAIMS = (gan_code_size, gan_depth, vae_below_gan, vae_code_size,
          aae_against_gan, mixture_prior, blur, deep_features, linear_vae,
          seeds, bdmc_gaps, grid_reference, aae_against_vae, gan_no_tradeoff,
          vae_lossless, gan_variants)


class FindingsError(ValueError):
  """A --results_dir that holds no results (one line, exit status 2)."""


def load_results(results_dir):
  """{figure: results document} for every FIGURE/results.json there.

  Raises:
    FindingsError: when the directory is missing or holds no results.json.
  """
  if not results_dir or not os.path.isdir(results_dir):
    raise FindingsError(f'--results_dir={results_dir} is not a directory; '
                        f'give an apps.reproduce --output_dir.')
  results = {}
  for name in sorted(os.listdir(results_dir)):
    path = os.path.join(results_dir, name, 'results.json')
    if os.path.isfile(path):
      try:
        with open(path) as stream:
          results[name] = json.load(stream)
      except ValueError as error:
        raise FindingsError(f'{path} is not valid JSON ({error}).') from None
  if not results:
    raise FindingsError(f'{results_dir} holds no FIGURE/results.json; run '
                        f'apps.reproduce with --output_dir={results_dir} '
                        f'first.')
  return results


def evaluate(results):
  """Every claim's `Finding`, in issue 13's order."""
  return [claim(results) for claim in CLAIMS]


def figures_table(results):
  """One markdown row per figure: its curves, images, chains, transitions,
  what it cost (the times its parts recorded: training, AIS, BDMC,
  quadrature), which recipes its models were trained on and how many of
  its curves carry their own BDMC check."""
  lines = ['| figure | curves | images x chains | transitions per curve | '
           'compute time | recipes | checked curves |',
           '| --- | --- | --- | --- | --- | --- | --- |']
  for name, document in sorted(results.items()):
    curves = document['curves']
    transitions = sorted({c.get('num_transitions') for c in curves
                          if c.get('num_transitions')})
    work = document.get('work_time_s') or 0.0
    sizes = sorted({f'{c["num_images"]} x {c["num_chains"]}'
                    for c in curves})
    checked = sum(1 for c in curves if _checked_gaps(c))
    lines.append(
        f'| {name} | {len(curves)} | {", ".join(sizes) or "-"} | '
        f'{", ".join(f"{t:,}" for t in transitions) or "-"} | '
        f'{work / 60:.1f} min | {_recipes(curves)} | {checked} |')
  return '\n'.join(lines) + '\n'


def _recipes(curves):
  """'recorded' when every zoo model of the figure recorded its optimizer
  recipe in its settings (trained since zoo.recipe declared them), 'not
  recorded' when none did (trained before: the VAE then at Adam 1e-3
  where appendix D.1 says 1e-4, the AAE's autoencoder at 1e-3; the GANs'
  recipes did not change), 'mixed' otherwise, '-' without zoo models."""
  models = [c.get('model') or {} for c in curves]
  zoo_models = [m for m in models if m.get('family') not in (None, 'linear')]
  if not zoo_models:
    return '-'
  recorded = sum(1 for m in zoo_models if 'recipe' in m)
  if recorded == len(zoo_models):
    return 'recorded'
  return 'not recorded' if not recorded else 'mixed'


def tally(findings):
  """One sentence counting the paper's claims by verdict (tfrd's own
  checks, which quote no sentence of the paper, are not counted)."""
  verdicts = [finding.verdict for finding in findings if finding.quote]
  tested = [verdict for verdict in verdicts if verdict != NOT_TESTED]
  counts = ', '.join(
      f'{tested.count(verdict)} {verdict}' for verdict in (
          REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, INCONCLUSIVE_AIS)
      if verdict in tested)
  return (f'Of the paper\'s {len(verdicts)} claims, {len(tested)} tested: '
          f'{counts or "none"}; {len(verdicts) - len(tested)} not tested.')


def _comparison_counts(finding):
  """'2 ✓ 1 ✗ 1 ?': how many of the finding's comparisons came out which
  way ('' when it has none)."""
  outcomes = [check.outcome for check in finding.checks]
  return ' '.join(f'{outcomes.count(outcome)} {mark}'
                  for outcome, mark in _MARK.items() if outcome in outcomes)


def markdown(findings, results):
  """The findings as markdown: a table of verdicts, then the evidence of
  each claim, one line per comparison."""
  budgets = sorted({document['budget'] for document in results.values()})
  lines = [f'Budget: {", ".join(budgets)}; figures: '
           f'{", ".join(sorted(results))}. Marks: ✓ holds, ✗ fails, '
           f'? unresolved (within {SIGNIFICANCE:g} standard errors), '
           f'≈ within the error AIS may have by the curves\' own BDMC '
           f'checks.', '',
           '| # | claim | verdict | comparisons |',
           '| --- | --- | --- | --- |']
  for finding in findings:
    lines.append(f'| {finding.number} | {finding.claim} | '
                 f'**{finding.verdict}** | '
                 f'{_comparison_counts(finding) or "-"} |')
  lines += ['', tally(findings), '']
  for finding in findings:
    lines.append(f'**{finding.number}. {finding.verdict}.** '
                 + (f'The paper: {finding.quote}' if finding.quote else
                    'tfrd\'s own check.')
                 # Not tested: one sentence saying why, after the quote.
                 + ('' if finding.evidence.startswith('\n') else '\n\n')
                 + f'{finding.evidence}')
    lines.append('')
  return '\n'.join(lines)


def report(results_dir, trend_dirs=()):
  """What `apps.findings` prints for `results_dir`: the figures table, then
  the findings as markdown (`markdown`), then, given `trend_dirs`, the
  verdicts' trend over them (`trend_table`).

  Raises:
    FindingsError: when a directory is missing or holds no results, or
      a results.json lacks per-image values.
  """
  results = load_results(results_dir)
  table = markdown(evaluate(results), results)
  text = figures_table(results) + '\n' + table
  if trend_dirs:
    text += '\n' + trend_table([load_results(d) for d in trend_dirs])
  return text


# A verdict's rank, to say which way it moved: towards the paper or away.
_VERDICT_RANK = {NOT_REPRODUCED: 0, INCONCLUSIVE: 1, INCONCLUSIVE_AIS: 1,
                 REPRODUCED: 2}


def trend_table(results_list):
  """Each claim's verdict at each of several results (one budget each,
  trained ever longer: cpu, then longer), and whether it moved with
  training, and which way.

  Args:
    results_list: {figure: document} per budget, in training order.

  Returns:
    A markdown table: claim, one column per budget (the verdict and how
    many of its comparisons held, failed or were unresolved), and
    'towards the paper' / 'away from the paper' / 'no' (the verdict did
    not move) / '-' (tested at fewer than two budgets).
  """
  budgets = [', '.join(sorted({d['budget'] for d in results.values()}))
             for results in results_list]
  evaluated = [evaluate(results) for results in results_list]
  lines = ['| # | ' + ' | '.join(budgets) + ' | moved with training |',
           '| --- | ' + ' | '.join('---' for unused in budgets) + ' | --- |']
  for findings_at in zip(*evaluated):
    verdicts = [f.verdict for f in findings_at]
    tested = [_VERDICT_RANK[v] for v in verdicts if v in _VERDICT_RANK]
    if len(tested) < 2:
      moved = '-'
    elif tested[-1] > tested[0]:
      moved = 'towards the paper'
    elif tested[-1] < tested[0]:
      moved = 'away from the paper'
    else:
      moved = 'no'
    # The comparisons' marks show a move within one verdict too.
    cells = [f'{f.verdict} ({_comparison_counts(f)})' if f.checks
             else f.verdict for f in findings_at]
    lines.append(f'| {findings_at[0].number} | ' + ' | '.join(cells) +
                 f' | {moved} |')
  return 'Verdicts as the models train longer:\n\n' + '\n'.join(lines) + '\n'

