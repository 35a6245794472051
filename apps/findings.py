r"""The paper's findings, judged from the numbers apps.reproduce recorded.

    python -m apps.findings --results_dir=runs/reproduce_cpu

reads every FIGURE/results.json under --results_dir and prints a table of
the figures, then one row per claim of Huang et al. (2020) listed in issue
13 (the claim and its verdict), then each claim's evidence. REPORT.md's
tables are this command's output on report/cpu (tests/test_findings.py
checks that they still are), so they cannot drift from the committed
results. How a claim becomes numbers is `pipelines.findings`.

    python -m apps.findings --results_dir=report/longer \
        --trend_dirs=report/cpu,report/longer

adds each claim's verdict at every budget listed, in training order, and
whether it moved with training and which way.
"""

import sys

from absl import flags

from pipelines import jobs

FLAGS = flags.FLAGS

flags.DEFINE_string('results_dir', None,
                    'An apps.reproduce --output_dir (or a copy of its '
                    'FIGURE/results.json files, as report/cpu).')
flags.DEFINE_list('trend_dirs', [],
                  'Results directories of ever longer training, in order '
                  '(e.g. report/cpu,report/longer): adds a table of each '
                  "claim's verdict at each and whether it moved with "
                  'training.')


def main(argv):
  del argv  # jobs.run refuses positional arguments.
  from pipelines import findings  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'findings', lambda: sys.stdout.write(findings.report(
          FLAGS.results_dir, FLAGS.trend_dirs)),
      (findings.FindingsError,))


if __name__ == '__main__':
  jobs.run(main)
