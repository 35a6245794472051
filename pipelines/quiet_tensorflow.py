"""Keeps TensorFlow's C++ start-up notices off the apps' stderr.

Why an environment variable is not enough: since TF 2.16 TensorFlow's shared
libraries log through Abseil, and TF_CPP_MIN_LOG_LEVEL only reaches Abseil
through a static initializer in each library (tsl's `LoggingInitializer`).
Other static initializers of the same libraries log before it runs; in TF
2.21 `libtensorflow_framework.so.2` and the profiler plugin each print, while
`import tensorflow` loads them,

    WARNING: All log messages before absl::InitializeLog() is called are ...
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on ...

whatever TF_CPP_MIN_LOG_LEVEL says (on other machines also the oneDNN and
CPU-instruction notices, or "Unable to register cuDNN factory" lines). They
are written to file descriptor 2 by C++ code while the libraries are being
loaded, so no Python setting and no call into them can come first.

So `install()` wraps the first `import tensorflow` of the process: for its
duration file descriptor 2 goes to an anonymous temporary file; afterwards it
is restored and the captured text is written back, minus the known notices
(`filter_notices`). Anything else comes through, just after the import
instead of during it. If the import raises, everything is written back
unfiltered, so a failed import is never hidden. On a machine where TensorFlow
reported that there are no CUDA drivers, the physical devices are listed
inside the same capture, so the inevitable `failed call to cuInit` error the
first TensorFlow op would log goes too (listing devices does not initialize
the runtime: threading and visible-device settings still work afterwards).
Later C++ logs are TF_CPP_MIN_LOG_LEVEL's business, defaulted to 2 (errors
only) here.

The switch: TFRD_TF_LOGS=1 leaves TensorFlow alone (nothing is filtered and
TF_CPP_MIN_LOG_LEVEL keeps TensorFlow's own default, 0), and so does an
explicit TF_CPP_MIN_LOG_LEVEL=0, which asks TensorFlow for all its INFO logs.
Use it when the process dies inside `import tensorflow` without a Python
traceback: what TensorFlow wrote just before a hard crash is in the lost
temporary file otherwise.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ['install', 'filter_notices', 'filtered_stderr']

_TRUE_VALUES = ('1', 'true', 'yes', 'on')

# A C++ log line's prefix: Abseil's `I0000 00:00:1796019931.581598    2278
# file.cc:31] ` (before absl::InitializeLog the date reads 0000 and the time
# holds seconds since the epoch), or the older tsl format
# `2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] `.
_PREFIX = (rb'(?:[IWEF]\d{4} [\d:.]+\s+\d+'
           rb'|\d{4}-\d\d-\d\d [\d:.]+: [IWEF]) \S+:\d+\] ')
_ABSL_WARNING = re.compile(
    rb'WARNING: All log messages before absl::InitializeLog\(\) is called '
    rb'are written to STDERR\r?\n?\Z')
_NO_CUDA_DRIVER = re.compile(
    _PREFIX + rb'Could not find cuda drivers on your machine')
_NOTICES = re.compile(_PREFIX + rb'(?:'
                      rb'Could not find cuda drivers on your machine'
                      rb'|oneDNN custom operations are on'
                      rb'|This TensorFlow binary is optimized '
                      rb'|Unable to register cu(?:DNN|FFT|BLAS) factory: '
                      rb')')
# The CPU-instruction notice continues on a line of its own.
_CPU_NOTICE = re.compile(_PREFIX + rb'This TensorFlow binary is optimized ')
_CPU_NOTICE_TAIL = re.compile(
    rb'To enable (?:the following instructions|them in other operations)'
    rb'.*rebuild TensorFlow with the appropriate compiler flags\.\r?\n?\Z')
# Only noise where TensorFlow has already said there are no CUDA drivers.
_CUINIT_FAILURE = re.compile(_PREFIX + rb'failed call to cuInit: ')


def filter_notices(data):
  """Returns `data` (bytes from stderr) without the known TF notices."""
  lines = data.splitlines(keepends=True)
  no_cuda_driver = any(_NO_CUDA_DRIVER.match(line) for line in lines)
  kept = []
  after_cpu_notice = False
  for line in lines:
    drop = (_ABSL_WARNING.match(line) or _NOTICES.match(line) or
            (after_cpu_notice and _CPU_NOTICE_TAIL.match(line)) or
            (no_cuda_driver and _CUINIT_FAILURE.match(line)))
    after_cpu_notice = bool(_CPU_NOTICE.match(line))
    if not drop:
      kept.append(line)
  return b''.join(kept)


class _Capture:
  """Read access to what has been written to the redirected stderr so far."""

  def __init__(self, file):
    self._file = file

  def text(self):
    _flush_python_stderr()
    fd = self._file.fileno()
    # Descriptor 2 shares this file's offset, which stays at the end as long
    # as the data is read back in full.
    end = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while end > 0:
      chunk = os.read(fd, end)
      if not chunk:
        break
      chunks.append(chunk)
      end -= len(chunk)
    return b''.join(chunks)


def _flush_python_stderr():
  # Python's own stderr buffers; what it holds belongs to the side of the
  # redirection it was written on.
  for stream in (sys.stderr, sys.__stderr__):
    try:
      stream.flush()
    except (AttributeError, OSError, ValueError):
      pass


@contextlib.contextmanager
def filtered_stderr():
  """Sends file descriptor 2 to a temporary file, written back filtered.

  Yields a `_Capture` (or None if descriptor 2 cannot be redirected, in which
  case nothing is captured). If the body raises, the captured text is written
  back unfiltered.
  """
  try:
    saved_fd = os.dup(2)
  except OSError:  # No stderr at all: nothing to keep clean.
    yield None
    return
  ok = False
  try:
    with tempfile.TemporaryFile() as file:
      _flush_python_stderr()
      os.dup2(file.fileno(), 2)
      try:
        yield _Capture(file)
        ok = True
      finally:
        captured = b''
        try:
          captured = _Capture(file).text()
        finally:
          os.dup2(saved_fd, 2)  # Whatever happened, stderr comes back.
        _write_all(2, filter_notices(captured) if ok else captured)
  finally:
    os.close(saved_fd)


def _write_all(fd, data):
  view = memoryview(data)
  while view:
    try:
      view = view[os.write(fd, view):]
    except OSError:  # stderr went away; nobody is left to read it.
      return


class _QuietLoader(importlib.abc.Loader):
  """Runs the wrapped loader of `tensorflow` inside `filtered_stderr()`."""

  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    # The wrapper is only needed for this call; code that inspects the
    # module's loader later must see the real one.
    module.__loader__ = self._loader
    if module.__spec__ is not None:
      module.__spec__.loader = self._loader
    with filtered_stderr() as capture:
      self._loader.exec_module(module)
      if capture is not None and _NO_CUDA_DRIVER.search(capture.text()):
        _list_devices(module)


def _list_devices(tf):
  try:
    tf.config.list_physical_devices()
  except Exception:  # pylint: disable=broad-except
    pass  # The first real op will raise it again, where it can be reported.


class _Finder(importlib.abc.MetaPathFinder):
  """Wraps the loader of `tensorflow` (the top-level package) in _QuietLoader.

  Importing any part of TensorFlow (`tensorflow.python...`, or through keras,
  tensorflow_probability, tfrd) imports the top-level package first, and that
  is what loads the C++ libraries. Once it is in sys.modules this finder is
  never asked again.
  """

  def __init__(self):
    self._finding = False

  def find_spec(self, fullname, path=None, target=None):
    del path, target  # A top-level package: no parent path, no reload target.
    if fullname != 'tensorflow' or self._finding:
      return None
    self._finding = True  # The finders after this one do the real work.
    try:
      spec = importlib.util.find_spec(fullname)
    finally:
      self._finding = False
    if spec is not None and spec.loader is not None and hasattr(
        spec.loader, 'exec_module'):
      spec.loader = _QuietLoader(spec.loader)
    return spec


def wants_tf_logs(environ=None):
  """Whether the user asked to see TensorFlow's own logging."""
  environ = os.environ if environ is None else environ
  return (environ.get('TFRD_TF_LOGS', '').strip().lower() in _TRUE_VALUES or
          environ.get('TF_CPP_MIN_LOG_LEVEL', '').strip() == '0')


def install():
  """Quietens the process's TensorFlow logging unless `wants_tf_logs()`.

  Must run before TensorFlow is imported (its C++ libraries read
  TF_CPP_MIN_LOG_LEVEL when they load); later calls change nothing.
  """
  if wants_tf_logs() or 'tensorflow' in sys.modules:
    return
  # Errors only: TensorFlow's run-time INFO and WARNING lines (XLA, grappler,
  # CUDA probing) are about TensorFlow, not about the run, and would bury the
  # apps' progress lines.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
