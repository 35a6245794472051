"""The passes an AIS run makes, and what they cost.

Appendix D.2 reports a curve from a *formal* run whose HMC step sizes were
tuned in a *preliminary* run and then frozen, because a chain whose step
size adapts is not Markov and its log Ẑ no proper bound. Which passes a run
makes follows from the step-size mode alone (and from whether a table from
an earlier run is given); this module is the one place that rule lives, so
`run_ais`, the progress lines of the apps and the cost figures of the
benchmarks cannot disagree about it.

Cost invariant: a pass over a schedule of T transitions costs every chain
1 + T·L decoder gradient evaluations (one at the prior's samples, then L
per transition; `tfrd.hmc` keeps that exact). `tests/test_ais.py` counts
the decoder's calls of a run and checks `decoder_gradients_per_chain`.
"""

import collections

from tfrd import hmc as hmc_lib
from tfrd import randomness

__all__ = ['AISPass', 'REVERSE_PASS', 'plan_passes', 'num_passes',
           'decoder_gradients_per_chain']


class AISPass(
    collections.namedtuple('AISPass',
                           ['phase', 'seed_tag', 'adapt', 'step_sizes'])):
  """One pass of an AIS run over the whole schedule.

  Attributes:
    phase: 'preliminary' or 'reported' (the name progress reports).
    seed_tag: the pass's tag in `randomness.RUN_SEED_TAGS`: its random
      numbers are drawn from `derive_seed(seed, seed_tag)`.
    adapt: whether step sizes adapt during the pass.
    step_sizes: where its per-chunk step sizes come from: None (start at
      the initial step size and adapt or keep it), 'given' (a table from an
      earlier run) or 'preliminary' (the table the preliminary pass used).
  """
  __slots__ = ()


# BDMC's reverse AIS pass (`tfrd.bdmc`): frozen, on the forward run's
# table (given to its loop), with random numbers of its own. It never
# adapts: adaptation would break the Markov property its unbiasedness
# rests on.
REVERSE_PASS = AISPass('reverse', randomness.RUN_SEED_TAGS['reverse'], False,
                       'given')


def plan_passes(step_size_mode, has_step_size_table=False):
  """The passes of a run with this step-size mode.

  Args:
    step_size_mode: one of `tfrd.hmc.STEP_SIZE_MODES`.
    has_step_size_table: a table from an earlier run is replayed frozen
      (then there is no preliminary pass, whatever the mode).

  Returns:
    A tuple of `AISPass`es, in order; the last is the reported one.
  """
  if step_size_mode not in hmc_lib.STEP_SIZE_MODES:
    raise ValueError(f'step_size_mode must be one of '
                     f'{hmc_lib.STEP_SIZE_MODES}, got {step_size_mode!r}.')
  reported = randomness.RUN_SEED_TAGS['reported']
  if has_step_size_table:
    return (AISPass('reported', reported, False, 'given'),)
  if step_size_mode == 'two_pass':
    return (AISPass('preliminary', randomness.RUN_SEED_TAGS['preliminary'],
                    True, None),
            AISPass('reported', reported, False, 'preliminary'))
  return (AISPass('reported', reported, step_size_mode == 'adaptive', None),)


def num_passes(step_size_mode, has_step_size_table=False):
  """How many passes over the schedule such a run makes."""
  return len(plan_passes(step_size_mode, has_step_size_table))


def decoder_gradients_per_chain(num_transitions, num_leapfrog_steps,
                                step_size_mode='two_pass',
                                has_step_size_table=False):
  """Decoder gradient evaluations each chain of such a run costs."""
  return num_passes(step_size_mode, has_step_size_table) * (
      1 + int(num_transitions) * int(num_leapfrog_steps))
