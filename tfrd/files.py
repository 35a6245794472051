"""Result files written whole or not at all.

Invariant: at every moment a result file tfrd writes holds either its
previous content or its complete new content, never a part. A run killed
while writing (SIGKILL, a full disk, a batch scheduler's time limit) leaves
the earlier file in place and a hidden `.NAME.*.partial` file at most, which
the next write of the same file does not need and a user may delete.

Writes go to a temporary file in the same directory (so the final rename
stays on one file system and is atomic under POSIX), are flushed to disk,
and replace the target with `os.replace`.
`tests/test_data_safety.py::test_atomic_write_keeps_the_old_file_when_writing_fails`
fails a writer half-way and checks the old file is intact.
"""

import contextlib
import os
import tempfile

__all__ = ['atomic_write', 'save_figure']

# What a plain `open(path, 'w')` would give the file; mkstemp's 0600 would
# hide results from the user's group.
_DEFAULT_MODE = 0o666


@contextlib.contextmanager
def atomic_write(path, mode='w', **open_kwargs):
  """Opens a stream whose content replaces `path` only once it is complete.

  Args:
    path: the file to write.
    mode: 'w' (text) or 'wb' (binary).
    **open_kwargs: passed to `open` (e.g. `newline=''` for CSV).

  Yields:
    A writable file object. If the block raises, `path` is untouched and
    the temporary file is removed.
  """
  if mode not in ('w', 'wb'):
    raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
  directory = os.path.dirname(os.path.abspath(path))
  handle, temporary = tempfile.mkstemp(
      prefix=f'.{os.path.basename(path)}.', suffix='.partial', dir=directory)
  try:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, _DEFAULT_MODE & ~umask)
    with os.fdopen(handle, mode, **open_kwargs) as stream:
      yield stream
      stream.flush()
      os.fsync(stream.fileno())
    os.replace(temporary, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(temporary)
    raise


def save_figure(figure, path, dpi=110):
  """`figure.savefig(path)`, atomically; the format follows the extension.

  Args:
    figure: a matplotlib figure.
    path: the file to write; or a writable binary stream (such as
      `io.BytesIO`, for an image kept in memory), which gets PNG and is the
      caller's to keep whole.
    dpi: resolution.

  Returns:
    `path`.
  """
  if not isinstance(path, (str, bytes, os.PathLike)):
    figure.savefig(path, format='png', dpi=dpi)
    return path
  file_format = os.path.splitext(path)[1].lstrip('.').lower() or 'png'
  with atomic_write(path, 'wb') as stream:
    figure.savefig(stream, format=file_format, dpi=dpi)
  return path
