"""How every entry point runs its job: errors, signals, exit statuses.

Bad input is reported the same way by every app and benchmark: one line
`PROGRAM: error: WHAT` on stderr and exit status 2, before or instead of a
traceback; an interrupted run exits with 128 + the signal's number (130 for
Ctrl-C, 143 for SIGTERM) and says how to continue. A job may fail through no
fault of its input (status 1: a lost worker, a failed validation), and a
curve run whose explicitly asked target gap was not met exits with
`TARGET_NOT_MET` (3) after writing its curve (`pipelines.curve_run`).

SIGTERM is what batch schedulers send before they kill a job, so it is
treated like Ctrl-C: a job that can stop at a safe point (`stop_event()`,
passed to tfrd's `RunControl(stop=...)` or to the zoo trainer's
`fit(stop=...)`) is asked to, and checkpoints at that moment; any other
job gets a `KeyboardInterrupt` at once, as Ctrl-C gives it. A second
signal always interrupts at once.

`run(main)` is the entry point of every app and benchmark (`python -m
apps.NAME`, the console scripts). Before anything imports TensorFlow it
installs the filter of TensorFlow's start-up notices
(`pipelines.quiet_tensorflow`): an entry point installs it, importing a
package never does. The apps import TensorFlow only inside `main`, after
absl has parsed the flags, so `--help` answers at once; it exits 0, as a
help request should (absl's own help flag exits 1).

No flags are read here: the apps, the benchmarks and users' own scripts
share it; `tests/test_cli.py` checks every status.
"""

import signal
import sys
import threading

from absl import app
from absl import logging

__all__ = ['run', 'run_job', 'stop_event', 'TARGET_NOT_MET']

# The exit status of a finished curve run whose target gap, asked for
# explicitly, was not met (`apps.rd_curve --target_gap`): its curve is
# written, but a script must not take it as meeting the target. Distinct
# from 1 (failed) and 2 (bad input).
TARGET_NOT_MET = 3

_HELP_ARGUMENTS = ('--help', '-help', '-h', '-?', '--helpshort', '--helpfull',
                   '--helpxml')

_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopRequest:
  """SIGINT/SIGTERM turned into an event a job may honour at a safe point."""

  def __init__(self):
    self.event = threading.Event()
    self.claimed = False
    self.signal_number = None

  def handle(self, signal_number, unused_frame):
    first = self.signal_number is None
    self.signal_number = self.signal_number or signal_number
    if first and self.claimed:
      self.event.set()
      return
    raise KeyboardInterrupt


_request = _StopRequest()


def stop_event():
  """The event set by the first SIGINT or SIGTERM while `run_job` runs.

  A job that asks for it promises to poll it (tfrd's AIS loop does so after
  every chunk) and so turns the first signal into a clean stop with a
  checkpoint, instead of a `KeyboardInterrupt` wherever the job happens to
  be.
  """
  _request.claimed = True
  return _request.event


def run(main, positional_arguments=False):
  """Runs an absl `main(argv)` as a program's entry point.

  Installs the TensorFlow notice filter first; refuses stray positional
  arguments (absl prints the usage) unless the program takes them
  (`positional_arguments`, e.g. the runs apps.compare compares); quiets
  INFO logging unless --verbosity is given (TF and TFDS log every file they
  touch at INFO; the progress lines are tfrd's); turns the exit of a help
  request into 0.
  """
  from pipelines import quiet_tensorflow  # pylint: disable=g-import-not-at-top
  quiet_tensorflow.install()
  arguments = sys.argv[1:]

  def checked_main(argv):
    if len(argv) > 1 and not positional_arguments:
      raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if not any(argument.startswith(('--verbosity', '-v=')) or argument == '-v'
               for argument in arguments):
      logging.set_verbosity(logging.WARNING)
    return main(argv)

  try:
    app.run(checked_main)
  except SystemExit as exit_request:
    if exit_request.code == 1 and any(argument in _HELP_ARGUMENTS
                                      for argument in arguments):
      sys.exit(0)
    raise


def run_job(program, job, expected_errors,
            interrupted_message='interrupted.', exit_status=None,
            failures=()):
  """Runs `job()` and turns its outcome into an exit status.

  Args:
    program: the name the messages start with, e.g. 'rd_curve'.
    job: callable with no arguments.
    expected_errors: exception classes that mean bad input: their message
      is printed as `program: error: message` and the status is 2.
    interrupted_message: printed after `program: ` when SIGINT or SIGTERM
      stopped the job (status 130 or 143).
    exit_status: optional callable from the job's result to the exit
      status of a finished job (e.g. 1 for a failed validation); 0 if None.
    failures: exception classes that mean the job failed through no fault
      of its input (e.g. a lost worker): `program: error: message`, status 1.

  Returns:
    The exit status.
  """
  global _request
  import tfrd  # pylint: disable=g-import-not-at-top
  _request = _StopRequest()
  previous = {number: signal.signal(number, _request.handle)
              for number in _HANDLED_SIGNALS}
  try:
    result = job()
  except tuple(expected_errors) as error:
    sys.stderr.write(f'{program}: error: {error}\n')
    return 2
  except tuple(failures) as error:
    sys.stderr.write(f'{program}: error: {error}\n')
    return 1
  except tfrd.RunInterrupted as interruption:
    kept = (f'checkpoint written to {interruption.checkpoint_path}'
            if interruption.checkpoint_path
            else 'stopped without a checkpoint (no checkpoint directory)')
    sys.stderr.write(
        f'{program}: {_signal_name(_request.signal_number)} received; '
        f'{kept}; {interrupted_message}\n')
    return 128 + (_request.signal_number or signal.SIGINT)
  except KeyboardInterrupt:
    sys.stderr.write(f'{program}: {interrupted_message}\n')
    return 128 + (_request.signal_number or signal.SIGINT)
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)
  return 0 if exit_status is None else int(exit_status(result))


def _signal_name(number):
  return signal.Signals(number or signal.SIGINT).name
