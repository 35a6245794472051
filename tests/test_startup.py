"""The apps start with their own output, not TensorFlow's C++ notices.

apps/quiet_tensorflow.py filters what the first `import tensorflow` writes
to file descriptor 2. The mechanism is checked against a fake `tensorflow`
package (fast, and the same on every machine); the real apps are checked end
to end in subprocesses (slow: each imports TensorFlow).
"""

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from pipelines import quiet_tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ABSL_WARNING = (b'WARNING: All log messages before absl::InitializeLog() is '
                b'called are written to STDERR\n')
NO_DRIVER = (b'I0000 00:00:1796019931.581598    2278 cudart_stub.cc:31] Could '
             b'not find cuda drivers on your machine, GPU will not be used.\n')
NOTICES = (
    ABSL_WARNING + NO_DRIVER +
    b'I0000 00:00:1796019931.632322    2278 cpu_feature_guard.cc:227] This '
    b'TensorFlow binary is optimized to use available CPU instructions in '
    b'performance-critical operations.\n'
    b'To enable the following instructions: AVX2 FMA, in other operations, '
    b'rebuild TensorFlow with the appropriate compiler flags.\n'
    b'I0000 00:00:1796019931.700000    2278 port.cc:153] oneDNN custom '
    b'operations are on. You may see slightly different numerical results due '
    b'to floating-point round-off errors from different computation orders. '
    b'To turn them off, set the environment variable '
    b'`TF_ENABLE_ONEDNN_OPTS=0`.\n'
    b'2025-09-17 14:44:05.176998: E external/local_xla/xla/stream_executor/'
    b'cuda/cuda_fft.cc:467] Unable to register cuFFT factory: Attempting to '
    b'register factory for plugin cuFFT when one has already been registered\n'
    b'E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to '
    b'register cuDNN factory: Attempting to register factory for plugin cuDNN '
    b'when one has already been registered\n'
    b'E0000 00:00:1758131045.209828 3722035 cuda_blas.cc:1407] Unable to '
    b'register cuBLAS factory: Attempting to register factory for plugin '
    b'cuBLAS when one has already been registered\n')
CUINIT_FAILURE = (b'E0000 00:00:1796020152.471454    3994 cuda_platform.cc:52] '
                  b'failed call to cuInit: INTERNAL: CUDA error: Failed call '
                  b'to cuInit: UNKNOWN ERROR (303)\n')
REAL_MESSAGES = (
    b'Traceback (most recent call last):\n'
    b'ImportError: libtensorflow_framework.so.2: cannot open shared object '
    b'file: No such file or directory\n'
    b'Failed to load the native TensorFlow runtime.\n'
    b'W0000 00:00:1796019931.581598    2278 dso_loader.cc:77] Could not load '
    b'dynamic library libcudart.so.12\n'
    b'/x/site-packages/tensorflow/__init__.py:1: DeprecationWarning: old\n'
    # A notice's wording outside a C++ log line is not that notice.
    b'print: Could not find cuda drivers on your machine\n'
    b'To enable the following instructions: AVX2, in other operations, '
    b'rebuild TensorFlow with the appropriate compiler flags.\n')


def test_filter_drops_the_known_notices():
  assert quiet_tensorflow.filter_notices(NOTICES + NOTICES) == b''


def test_filter_passes_everything_else_through_in_order():
  assert quiet_tensorflow.filter_notices(REAL_MESSAGES) == REAL_MESSAGES
  mixed = (ABSL_WARNING + REAL_MESSAGES[:60] + b'\n' + NOTICES +
           REAL_MESSAGES[60:])
  assert quiet_tensorflow.filter_notices(mixed) == (
      REAL_MESSAGES[:60] + b'\n' + REAL_MESSAGES[60:])


def test_cuinit_failure_is_noise_only_without_cuda_drivers():
  # With a driver installed, cuInit failing is worth seeing.
  assert quiet_tensorflow.filter_notices(CUINIT_FAILURE) == CUINIT_FAILURE
  assert quiet_tensorflow.filter_notices(NO_DRIVER + CUINIT_FAILURE) == b''


def test_filter_keeps_a_last_line_without_newline():
  assert quiet_tensorflow.filter_notices(NOTICES + b'partial') == b'partial'


def test_filtered_stderr_writes_back_all_but_the_notices(capfd):
  with quiet_tensorflow.filtered_stderr():
    os.write(2, NOTICES + b'kept\n')
    os.write(2, b'and this\n')
    leaked = capfd.readouterr().err
  assert leaked == ''  # Held back until the block ends.
  assert capfd.readouterr().err == 'kept\nand this\n'


def test_filtered_stderr_writes_back_everything_on_errors(capfd):
  with pytest.raises(ImportError):
    with quiet_tensorflow.filtered_stderr():
      os.write(2, NOTICES + b'the cause\n')
      raise ImportError('boom')
  assert capfd.readouterr().err.encode() == NOTICES + b'the cause\n'


@pytest.mark.parametrize('environ, expected', [
    ({}, False),
    ({'TFRD_TF_LOGS': '1'}, True),
    ({'TFRD_TF_LOGS': 'yes'}, True),
    ({'TFRD_TF_LOGS': '0'}, False),
    ({'TFRD_TF_LOGS': ''}, False),
    ({'TF_CPP_MIN_LOG_LEVEL': '0'}, True),
    ({'TF_CPP_MIN_LOG_LEVEL': '2'}, False),
    ({'TF_CPP_MIN_LOG_LEVEL': '3'}, False),
])
def test_wants_tf_logs(environ, expected):
  assert quiet_tensorflow.wants_tf_logs(environ) is expected


def _clean_env(**overrides):
  env = dict(os.environ)
  for name in ('TF_CPP_MIN_LOG_LEVEL', 'TFRD_TF_LOGS', 'PYTHONPATH'):
    env.pop(name, None)
  env.update(overrides)
  return env


def _run(args, env, timeout=600):
  result = subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, check=False)
  return result.returncode, result.stdout


# A stand-in for TensorFlow: writes what TF 2.21's libraries write while they
# load, then what it is told to.
FAKE_TENSORFLOW = textwrap.dedent('''\
    import os
    import sys
    os.write(2, {notices!r})
    print('TF_CPP_MIN_LOG_LEVEL=%s' % os.environ.get('TF_CPP_MIN_LOG_LEVEL'),
          file=sys.stderr)

    class config:
      @staticmethod
      def list_physical_devices():
        os.write(2, {cuinit!r})
        return []

    if os.environ.get('FAKE_TF_FAILS'):
      raise ImportError('fake tensorflow failed to load')
    ''').format(notices=NOTICES, cuinit=CUINIT_FAILURE)


@pytest.fixture(name='fake_tf_path')
def _fake_tf_path(tmp_path):
  package = tmp_path / 'tensorflow'
  package.mkdir()
  (package / '__init__.py').write_text(FAKE_TENSORFLOW)
  return str(tmp_path) + os.pathsep + REPO


# What an entry point (pipelines.jobs.run) does before TensorFlow loads.
INSTALL = ('from pipelines import quiet_tensorflow; '
           'quiet_tensorflow.install(); ')
IMPORT_THROUGH_APPS = (
    INSTALL + 'import tensorflow; '
    'print("loader", type(tensorflow.__loader__).__name__, '
    'type(tensorflow.__spec__.loader).__name__)')


def test_importing_the_packages_installs_nothing():
  # The filter is the entry points' business (pipelines.jobs.run), not a
  # side effect of importing a package.
  before = list(sys.meta_path)
  import apps  # pylint: disable=g-import-not-at-top,unused-import
  import benchmarks  # pylint: disable=g-import-not-at-top,unused-import
  import pipelines  # pylint: disable=g-import-not-at-top,unused-import
  assert sys.meta_path == before


def test_fake_import_through_apps_is_quiet(fake_tf_path):
  status, output = _run(['-c', IMPORT_THROUGH_APPS],
                        _clean_env(PYTHONPATH=fake_tf_path))
  assert status == 0, output
  # The no-driver notice triggered the device listing, whose cuInit failure
  # went too; the loader seen afterwards is the real one.
  assert output.decode() == (
      'TF_CPP_MIN_LOG_LEVEL=2\n'
      'loader SourceFileLoader SourceFileLoader\n')


def test_fake_import_keeps_a_given_log_level(fake_tf_path):
  status, output = _run(['-c', IMPORT_THROUGH_APPS], _clean_env(
      PYTHONPATH=fake_tf_path, TF_CPP_MIN_LOG_LEVEL='3'))
  assert status == 0, output
  assert output.decode().splitlines()[0] == 'TF_CPP_MIN_LOG_LEVEL=3'


def test_failed_import_shows_everything(fake_tf_path):
  status, output = _run(['-c', INSTALL + 'import tensorflow'], _clean_env(
      PYTHONPATH=fake_tf_path, FAKE_TF_FAILS='1'))
  assert status == 1
  assert output.startswith(NOTICES + b'TF_CPP_MIN_LOG_LEVEL=2\n'), output
  assert b'ImportError: fake tensorflow failed to load' in output


@pytest.mark.parametrize('switch', [{'TFRD_TF_LOGS': '1'},
                                    {'TF_CPP_MIN_LOG_LEVEL': '0'}])
def test_switch_leaves_tensorflow_alone(fake_tf_path, switch):
  status, output = _run(['-c', INSTALL + 'import tensorflow'],
                        _clean_env(PYTHONPATH=fake_tf_path, **switch))
  assert status == 0, output
  level = switch.get('TF_CPP_MIN_LOG_LEVEL')
  assert output == NOTICES + b'TF_CPP_MIN_LOG_LEVEL=%s\n' % str(level).encode()


def _first_docstring_line(module_path):
  with open(os.path.join(REPO, module_path)) as f:
    docstring = ast.get_docstring(ast.parse(f.read()))
  return docstring.strip().splitlines()[0]


def _first_nonempty_line(output):
  return next(line for line in output.decode().splitlines() if line.strip())


@pytest.mark.parametrize('module', ['rd_curve', 'bdmc', 'train', 'reproduce',
                                    'compare', 'findings', 'linear_vae',
                                    'entropic_gan'])
def test_app_help_is_quick_and_exits_0(module, tmp_path):
  # --help is answered from the flags alone: no TensorFlow (whose import
  # takes seconds) is loaded, and a help request is not an error.
  status, output = _run(
      ['-X', 'importtime', '-m', 'apps.' + module, '--help'],
      _clean_env(PYTHONPATH=REPO, MPLCONFIGDIR=str(tmp_path)))
  assert status == 0, output[-2000:]
  text = output.decode()
  imported = {line.rsplit('|', 1)[-1].strip() for line in text.splitlines()
              if line.startswith('import time:')}
  heavy = {name for name in imported
           if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras',
                                     'tensorflow_probability')}
  assert not heavy, sorted(heavy)[:10]
  lines = [line for line in text.splitlines()
           if not line.startswith('import time:')]
  expected = _first_docstring_line('apps/%s.py' % module)
  assert next(line for line in lines if line.strip()) == expected


@pytest.mark.slow
def test_tfrd_tf_logs_brings_the_notices_back(tmp_path):
  _, plain = _run(['-c', 'import tensorflow'], _clean_env(PYTHONPATH=REPO))
  if ABSL_WARNING not in plain:
    pytest.skip('this TensorFlow writes no absl::InitializeLog warning while '
                'it loads, so there is nothing to bring back')
  failing_run = ['-m', 'apps.rd_curve', f'--model={tmp_path}/missing.keras',
                 f'--output_dir={tmp_path}/out']
  _, output = _run(failing_run, _clean_env(
      PYTHONPATH=REPO, TFRD_TF_LOGS='1', MPLCONFIGDIR=str(tmp_path)))
  assert output.startswith(ABSL_WARNING), output[:2000]
  # Without the switch the run's own error is its first line.
  _, output = _run(failing_run, _clean_env(PYTHONPATH=REPO,
                                           MPLCONFIGDIR=str(tmp_path)))
  assert _first_nonempty_line(output).startswith('rd_curve: error: '), (
      output[:2000])
