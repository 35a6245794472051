"""The result files an app writes into a directory the user names.

An output directory may hold the user's other work, so every app follows
the same rules, from here rather than from copies:

- the directory is checked before any work: a path that is a file, or one
  that cannot be created, is one `PROGRAM: error:` line and exit status 2;
  it is created only when the first result is written, so a run refused
  before any work leaves no directory behind;
- the app replaces only the files it is about to write, and only with
  `--overwrite`: files of those names already there (an earlier run's
  results, or the user's own) are refused, naming them, before any work;
- `--resume` of a run whose result is already there says so, names the
  result, and exits 0 without touching anything;
- every file is written atomically (`tfrd.files.atomic_write`): a run
  killed while writing leaves the previous file whole.

`tests/test_data_safety.py` checks each rule through the apps.
"""

import contextlib
import os
import sys
import tempfile

from tfrd import files

__all__ = ['OutputError', 'OutputFiles', 'check_creatable']


class OutputError(ValueError):
  """An output location tfrd may not write into as asked."""


def check_creatable(directory, flag='--output_dir'):
  """Checks, creating nothing, that `directory` is or can become a writable
  directory.

  Nothing is created before the work starts, so that a run refused later,
  before any work (a bad model, a checkpoint to resume), leaves no
  directory behind; the first file written creates it.

  Raises:
    OutputError: naming the file or unwritable directory in the way.
  """
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise OutputError(f'{flag}={directory} is a file, not a directory; give '
                      f'a directory for the results.')
  existing = os.path.abspath(directory)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise OutputError(f'Cannot create {flag}={directory}: {existing} is a '
                      f'file.')
  if not os.access(existing, os.W_OK | os.X_OK):
    if existing == os.path.abspath(directory):
      raise OutputError(f'{flag}={directory} is not writable.')
    raise OutputError(f'Cannot create {flag}={directory}: {existing} is not '
                      f'writable.')


class OutputFiles:
  """The named result files one run writes into one directory.

  Args:
    program: the app's name, for messages (e.g. 'rd_curve').
    directory: the output directory (created if missing).
    names: the files the run writes, relative to `directory`; the first is
      the one whose presence means the run finished (e.g. 'curve.json').
    overwrite: whether existing files of these names may be replaced.
    flag: how the user named the directory, for messages.
  """

  def __init__(self, program, directory, names, overwrite=False,
               flag='--output_dir'):
    self.program = program
    self.directory = directory
    self.names = list(names)
    self.overwrite = bool(overwrite)
    self.flag = flag

  @property
  def result_path(self):
    """The file whose presence means the run finished."""
    return self.path(self.names[0])

  def path(self, name):
    return os.path.join(self.directory, name)

  def prepare(self, resume=False):
    """Checks that the directory can be written; call before any work.

    Args:
      resume: the user asked to resume a run here.

    Returns:
      True when `resume` was asked and the run already finished (its result
      is at `result_path`): the caller reports that and stops.

    Raises:
      OutputError: if the directory is a file or cannot be created or
        written, or holds files of the names the run writes and `overwrite`
        is off.
    """
    if os.path.exists(self.directory) and not os.path.isdir(self.directory):
      raise OutputError(f'{self.flag}={self.directory} is a file, not a '
                        f'directory; give a directory for the results.')
    if resume and not self.overwrite and os.path.exists(self.result_path):
      return True
    self.refuse_existing(self.names)
    check_creatable(self.directory, self.flag)
    return False

  def declare(self, names):
    """Adds files whose names become known only during the run.

    (e.g. the auxiliary models a training family exports).

    Raises:
      OutputError: as `prepare` does, if any of them may not be replaced.
    """
    self.refuse_existing(names)
    self.names.extend(name for name in names if name not in self.names)

  def refuse_existing(self, names):
    """Raises `OutputError` if any of `names` exists and may not be replaced."""
    if self.overwrite:
      return
    existing = [name for name in names if os.path.lexists(self.path(name))]
    if existing:
      shown = ', '.join(existing[:4]) + (', ...' if len(existing) > 4 else '')
      raise OutputError(
          f'{self.directory} already holds {shown}; pass --overwrite to '
          f'replace {"it" if len(existing) == 1 else "them"}, or choose '
          f'another {self.flag}.')

  def say_finished(self):
    sys.stderr.write(
        f'{self.program}: the run in {self.directory} is finished: its '
        f'result is {self.result_path}; nothing to resume (pass --overwrite '
        f'without --resume to compute it again).\n')

  def open(self, name, mode='w', **open_kwargs):
    """`tfrd.files.atomic_write` for one of the run's files."""
    self._check_own(name)
    path = self.path(name)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    return files.atomic_write(path, mode, **open_kwargs)

  def save_keras_model(self, name, model):
    """`model.save` into one of the run's `.keras` files, atomically."""
    self._check_own(name)
    path = self.path(name)
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    # Keras infers the format from the extension, so the temporary file
    # keeps it.
    handle, temporary = tempfile.mkstemp(
        prefix=f'.{os.path.basename(path)}.', suffix='.partial.keras',
        dir=directory)
    os.close(handle)
    try:
      model.save(temporary)
      os.replace(temporary, path)
    finally:
      with contextlib.suppress(FileNotFoundError):
        os.remove(temporary)
    return path

  def _check_own(self, name):
    if name not in self.names:
      raise ValueError(f'{name} is not one of the files this run declared '
                       f'({self.names}).')
