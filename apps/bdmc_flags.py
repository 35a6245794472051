"""The accuracy check every curve gets: --bdmc_points, --target_gap.

What they measure and how: `tfrd.accuracy` (the check, the target and the
schedule search) and `pipelines.bdmc_points` (where the gaps are written).
"""

from absl import flags

from apps import ais_flags
from apps import number_flags
from tfrd import settings as tfrd_settings

__all__ = ['define_flags', 'accuracy_settings_from_flags']

FLAGS = flags.FLAGS

_DEFAULTS = tfrd_settings.AccuracySettings()


def define_flags():
  """Defines the check's flags (call once, from the app)."""
  flags.DEFINE_list(
      'bdmc_points', ['auto'],
      'Inverse temperatures at which the curve checks its own accuracy by '
      'BDMC (data simulated from the model, forward and reverse AIS on the '
      'curve\'s schedule up to each beta; appendix D.3.2). "auto": the '
      'lowest RD beta, 1 and the highest (only 1 for Bernoulli NLL and '
      '--gaussian_scale=decoder); "none": no check (and no --target_gap); '
      'or numbers in (0, largest beta], e.g. 1,100. The gaps, their '
      'standard errors and the check\'s cost beside the curve\'s go into '
      'curve.json ("bdmc", "accuracy"), curve.png (error bars) and the '
      'printed table.')
  flags.DEFINE_integer(
      'bdmc_num_images', None,
      'Images simulated from the model at each BDMC point (default: as many '
      'as keep the check within half the curve\'s decoder gradients, at '
      'most 8 and at least 1, or with --target_gap at least '
      f'{tfrd_settings.MIN_CHECK_IMAGES}, the fewest that judge a gap, '
      'whatever they cost).')
  flags.DEFINE_string(
      'target_gap', str(_DEFAULTS.target_gap),
      'The BDMC gap in nats every checked point must meet: its mean over '
      f'at least {tfrd_settings.MIN_CHECK_IMAGES} simulated images plus two '
      'standard errors. Before the curve, the check runs on the '
      'schedule asked for; while one is larger, the schedule (its base '
      'and fills) is made 2, 4, ... times longer, as predicted from the gap, '
      'and checked again, until every gap is within target or '
      '--max_num_intermediate would be passed. The curve then runs once, on '
      'the settled schedule; its check is the settled schedule measured '
      'once more on fresh simulated images (not those that stopped the '
      'search, whose gaps lean low). Given '
      'explicitly and not met (within the cap), the run writes its curve '
      'and exits with status 3. "none": '
      'check the schedule as given, after the curve, without lengthening '
      'it. A schedule set explicitly (--num_intermediate, '
      '--min_before_first, --min_between or --schedule) is lengthened only '
      'when --target_gap is given too: otherwise the curve runs on it as '
      'set, and the check after the curve judges it against the target '
      'and warns where it misses.')
  flags.DEFINE_integer(
      'max_num_intermediate', _DEFAULTS.max_num_intermediate,
      'The compute cap of --target_gap: the longest base schedule '
      '(--num_intermediate) it may try. When the target is not met within '
      'it, one line says so and the curve uses the longest schedule tried.')
  flags.DEFINE_boolean(
      'adapt_schedule', _DEFAULTS.adapt_schedule,
      'With --target_gap\'s search: measure the distortion\'s variance '
      'along the schedule once (one adaptive pass on simulated images) and '
      're-space every schedule the search tries, and the curve\'s, to equal '
      'shares of thermodynamic length: the same transitions and RD points, '
      'more of them where the posterior moves fastest. --noadapt_schedule '
      'keeps the geometric schedule.')


def accuracy_settings_from_flags():
  """The `tfrd.AccuracySettings` the flags describe.

  The schedule may grow (`grow_schedule`) unless it was set explicitly
  (`ais_flags.explicit_schedule_from_flags`) and --target_gap was not.

  Raises:
    ValueError: for values that are neither numbers nor the words the flags
      take (the points are checked against the schedule by
      `tfrd.accuracy.check_betas`, before any work).
  """
  values = [value.strip().lower() for value in FLAGS.bdmc_points]
  if values in (['auto'], []):
    betas = None
  elif values == ['none']:
    betas = ()
  else:
    betas = number_flags.parse_floats(values, 'bdmc_points')
  if betas is not None and not all(beta > 0 for beta in betas):
    raise ValueError(f'--bdmc_points must be positive, got '
                     f'{",".join(FLAGS.bdmc_points)}.')
  if FLAGS.bdmc_num_images is not None and FLAGS.bdmc_num_images < 1:
    raise ValueError(f'--bdmc_num_images must be positive, got '
                     f'{FLAGS.bdmc_num_images}.')
  if FLAGS.max_num_intermediate < 1:
    raise ValueError(f'--max_num_intermediate must be positive, got '
                     f'{FLAGS.max_num_intermediate}.')
  target = FLAGS.target_gap.strip().lower()
  target_gap = None
  if target != 'none':
    try:
      target_gap = float(target)
    except ValueError:
      target_gap = float('nan')
    if not target_gap > 0 or target_gap == float('inf'):
      raise ValueError(f'--target_gap must be a positive number of nats or '
                       f'"none", got {FLAGS.target_gap!r}.')
  if (target_gap is not None and FLAGS.bdmc_num_images is not None and
      FLAGS.bdmc_num_images < tfrd_settings.MIN_CHECK_IMAGES):
    raise ValueError(
        f'--bdmc_num_images={FLAGS.bdmc_num_images} cannot judge '
        f'--target_gap: its verdict needs at least '
        f'{tfrd_settings.MIN_CHECK_IMAGES} simulated images per point; give '
        f'more, or --target_gap=none.')
  # A schedule the user set is theirs: a target they did not ask for
  # judges it, and only one they asked for may lengthen it.
  grow_schedule = (FLAGS['target_gap'].present or
                   not ais_flags.explicit_schedule_from_flags())
  return tfrd_settings.AccuracySettings(
      betas=betas, num_images=FLAGS.bdmc_num_images, target_gap=target_gap,
      max_num_intermediate=FLAGS.max_num_intermediate,
      grow_schedule=grow_schedule, adapt_schedule=FLAGS.adapt_schedule)
