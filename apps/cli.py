"""What every app's `main` does around its job: arguments, logging, errors.

Bad input is reported the same way by every app: one line
`PROGRAM: error: WHAT` on stderr and exit status 2, before or instead of a
traceback; an interrupted run exits with 130 and says how to continue.
"""

import sys

from absl import app
from absl import flags
from absl import logging

__all__ = ['start', 'run_job']


def start(argv):
  """Refuses stray arguments and quiets INFO logging unless --verbosity.

  Raises:
    app.UsageError: for positional arguments (absl prints the usage).
  """
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    # TF and TFDS log every file they touch at INFO; the progress line is ours.
    logging.set_verbosity(logging.WARNING)


def run_job(program, job, expected_errors,
            interrupted_message='interrupted.'):
  """Runs `job()` and turns its expected errors into an exit status.

  Args:
    program: the name the messages start with, e.g. 'rd_curve'.
    job: callable with no arguments; its return value (an exit status, or
      None for 0) is returned.
    expected_errors: exception classes that mean bad input: their message
      is printed as `program: error: message` and the status is 2.
    interrupted_message: printed after `program: ` on Ctrl-C (status 130).

  Returns:
    The exit status.
  """
  try:
    status = job()
  except tuple(expected_errors) as error:
    sys.stderr.write(f'{program}: error: {error}\n')
    return 2
  except KeyboardInterrupt:
    sys.stderr.write(f'{program}: {interrupted_message}\n')
    return 130
  return 0 if status is None else status
