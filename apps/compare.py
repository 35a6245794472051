r"""Compares the rate-prior distortion curves of several runs.

    python -m apps.compare runs/vae runs/gan --labels=VAE,GAN \
        --output=vae_vs_gan.png

Each run is a directory written by `apps.rd_curve` (its curve.json, and
curve.npz when present), or the path of a curve.json itself. Writes one
figure, --output, with two panels: rate against distortion, and rate against
the inverse temperature β (log-scaled). BDMC gaps are drawn as error bars
reaching the gap below the AIS rate, for runs that have them: the `bdmc`
field of curve.json (`apps.rd_curve --bdmc_points`) and a bdmc.json of
`apps.bdmc` in the run's directory.

Prints to stdout the curves side by side: the rate of every run at a few
shared distortions and the distortion at a few shared rates, interpolated
linearly where each curve first reaches the value (`pipelines.curves`);
'-' where a curve does not reach it.

Runs are compared only when they measure the same thing: the same
distortion (name and parameters) on the same data (dataset, split or file,
and image indices), as recorded in their curve.json. Anything else is refused
with one line on stderr and exit status 2 before anything is drawn. The
rules are `pipelines.compare`'s.
"""

import math

from absl import flags

from apps import number_flags
from apps import output_flags
from pipelines import jobs

FLAGS = flags.FLAGS


def define_flags():
  """Defines the app's flags.

  Called only when the module runs as the program, so that importing it
  next to another app (whose flags --output and --overwrite share its
  names) defines nothing.
  """
  flags.DEFINE_string(
      'output', None,
      'The figure to write: PNG, or the format its extension names (.pdf, '
      '.svg, ...). Required. An existing file is refused unless --overwrite.')
  flags.DEFINE_list(
      'labels', None,
      'Legend and table labels, one per run in the order given, e.g. VAE,GAN '
      '(default: the names of the run directories).')
  flags.DEFINE_list(
      'at_distortions', None,
      'Distortions at which to tabulate every run\'s rate (default: '
      '--num_table_points values spread over the range all runs cover).')
  flags.DEFINE_list(
      'at_rates', None,
      'Rates (nats per image) at which to tabulate every run\'s distortion '
      '(default: --num_table_points values spread over the range all runs '
      'cover).')
  flags.DEFINE_integer('num_table_points', 5,
                       'Rows of each table when its values are not given.')
  flags.DEFINE_string('title', None, 'Figure title.')
  output_flags.define_overwrite_flag()
  # Listed in --help with the app's own flags.
  flags.declare_key_flag('overwrite')


def _numbers_from_flag(values, flag):
  """The numbers of a list flag, or None when it is not given.

  Raises:
    ValueError: for values that are not finite numbers.
  """
  numbers = number_flags.parse_floats(values, flag.lstrip('-'))
  if numbers is not None and not all(math.isfinite(n) for n in numbers):
    raise ValueError(f'{flag} must be finite, got {",".join(values)}.')
  return numbers


def settings_from_flags(paths):
  """The `pipelines.compare.CompareSettings` of the flags and the runs.

  Args:
    paths: the positional arguments, the runs.

  Raises:
    ValueError: for --at_distortions or --at_rates that are not finite
      numbers.
  """
  from pipelines import compare  # pylint: disable=g-import-not-at-top
  return compare.CompareSettings(
      paths=tuple(paths), output=FLAGS.output,
      labels=None if FLAGS.labels is None else tuple(FLAGS.labels),
      overwrite=FLAGS.overwrite,
      at_distortions=_numbers_from_flag(FLAGS.at_distortions,
                                        '--at_distortions'),
      at_rates=_numbers_from_flag(FLAGS.at_rates, '--at_rates'),
      num_table_points=FLAGS.num_table_points, title=FLAGS.title)


def main(argv):
  from pipelines import compare  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'compare',
      lambda: compare.compare_runs(settings_from_flags(argv[1:])),
      (ValueError, OSError))


def console_main():
  define_flags()
  jobs.run(main, positional_arguments=True)


if __name__ == '__main__':
  console_main()
