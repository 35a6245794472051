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
            interrupted_message='interrupted.', exit_status=None):
  """Runs `job()` and turns its outcome into an exit status.

  Args:
    program: the name the messages start with, e.g. 'rd_curve'.
    job: callable with no arguments.
    expected_errors: exception classes that mean bad input: their message
      is printed as `program: error: message` and the status is 2.
    interrupted_message: printed after `program: ` on Ctrl-C (status 130).
    exit_status: optional callable from the job's result to the exit
      status of a finished job (e.g. 1 for a failed validation); 0 if None.

  Returns:
    The exit status.
  """
  try:
    result = job()
  except tuple(expected_errors) as error:
    sys.stderr.write(f'{program}: error: {error}\n')
    return 2
  except KeyboardInterrupt:
    sys.stderr.write(f'{program}: {interrupted_message}\n')
    return 130
  return 0 if exit_status is None else int(exit_status(result))
