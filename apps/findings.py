r"""The paper's findings, judged from the numbers apps.reproduce recorded.

    python -m apps.findings --results_dir=runs/reproduce_cpu

reads every FIGURE/results.json under --results_dir and prints a table of
the figures, then one row per claim of Huang et al. (2020) listed in issue
13 (the claim and its verdict), then each claim's evidence. REPORT.md's
tables are this command's output on report/cpu (tests/test_findings.py
checks that they still are), so they cannot drift from the committed
results. How a claim becomes numbers is `pipelines.findings`.
"""

import sys

from absl import flags

from pipelines import jobs

FLAGS = flags.FLAGS

flags.DEFINE_string('results_dir', None,
                    'An apps.reproduce --output_dir (or a copy of its '
                    'FIGURE/results.json files, as report/cpu).')


def main(argv):
  del argv  # jobs.run refuses positional arguments.
  from pipelines import findings  # pylint: disable=g-import-not-at-top
  return jobs.run_job(
      'findings', lambda: sys.stdout.write(findings.report(FLAGS.results_dir)),
      (findings.FindingsError,))


if __name__ == '__main__':
  jobs.run(main)
