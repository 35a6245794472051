"""Decoders that carry their users' own code: registered layers and Lambdas.

The user's module is written by the test (a registered scaled Dense layer and
a dict of custom objects); the decoders using it are saved here, as users
save theirs. Loading them needs --import / import_modules, --custom_objects /
custom_objects, or, for a Lambda layer, --unsafe_deserialization /
safe_mode=False; without them the error names the option.
"""

import json
import os
import sys
import textwrap

import numpy as np
import pytest

from adapters import models
from adapters import python_objects

import app_runner  # pylint: disable=g-bad-import-order

REPO = app_runner.REPO
TINY_AIS_FLAGS = list(app_runner.TINY_CURVE_FLAGS)
LATENT_DIM = 3
OUTPUT_DIM = 24
# Its own name, so that it cannot be imported already in the test process.
USER_MODULE = 'tfrd_test_user_layers'
_PACKAGE = 'tfrd_test_user'  # what it registers its layer under

_USER_MODULE_SOURCE = textwrap.dedent('''\
    import keras


    @keras.saving.register_keras_serializable(package='tfrd_test_user')
    class ScaledDense(keras.layers.Dense):
      """Dense, times a constant: a layer Keras cannot know by itself."""

      def __init__(self, units, scale=0.5, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = scale

      def call(self, inputs):
        return super().call(inputs) * self.scale

      def get_config(self):
        return {**super().get_config(), 'scale': self.scale}


    CUSTOM_OBJECTS = {'ScaledDense': ScaledDense}
    NOT_A_DICT = [ScaledDense]
    ''')


_run = app_runner.run_app


def _forget_user_module():
  """Undoes importing the user's module in this process.

  Keras's registry would otherwise keep its class, and later loads would
  find it without the options under test.
  """
  import keras  # pylint: disable=g-import-not-at-top
  sys.modules.pop(USER_MODULE, None)
  registry = keras.saving.get_custom_objects()
  for name in [name for name in registry if name.startswith(_PACKAGE + '>')]:
    del registry[name]


def _error_lines(stderr):
  return [line for line in stderr.splitlines()
          if line.startswith('rd_curve: error:')]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  """The user's module, two decoders saved with it, a Lambda decoder, data."""
  import keras  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('custom')
  module_dir = root / 'user_code'
  module_dir.mkdir()
  (module_dir / f'{USER_MODULE}.py').write_text(_USER_MODULE_SOURCE)
  rng = np.random.default_rng(0)
  kernel = (rng.normal(size=(LATENT_DIM, OUTPUT_DIM)) * 0.3).astype(
      np.float32)
  bias = np.full(OUTPUT_DIM, 0.4, np.float32)
  sys.path.insert(0, str(module_dir))
  try:
    user_module = __import__(USER_MODULE)
    custom = keras.Sequential([keras.Input((LATENT_DIM,)),
                               user_module.ScaledDense(OUTPUT_DIM)])
    custom.layers[-1].set_weights([kernel, bias])
    custom.save(str(root / 'custom.keras'))
  finally:
    sys.path.remove(str(module_dir))
    _forget_user_module()
  dense = keras.layers.Dense(OUTPUT_DIM)
  with_lambda = keras.Sequential([keras.Input((LATENT_DIM,)), dense,
                                  keras.layers.Lambda(lambda x: 0.5 * x)])
  dense.set_weights([kernel, bias])
  paths = {'module_dir': str(module_dir), 'custom': str(root / 'custom.keras'),
           'lambda': str(root / 'lambda.keras'),
           'data': str(root / 'images.npz')}
  with_lambda.save(paths['lambda'])
  latents = rng.normal(size=(4, LATENT_DIM)).astype(np.float32)
  paths['latents'] = latents
  paths['expected'] = 0.5 * (latents @ kernel + bias)
  np.savez(paths['data'],
           x=(0.5 * (rng.normal(size=(3, LATENT_DIM)) @ kernel + bias)).astype(
               np.float32))
  return paths


@pytest.fixture
def user_path(files, monkeypatch):
  """The user's module importable (and not yet imported) in this process."""
  monkeypatch.syspath_prepend(files['module_dir'])
  yield
  _forget_user_module()


def _load_error(*args, **kwargs):
  with pytest.raises(models.ModelError) as info:
    models.load_decoder(*args, **kwargs)
  message = str(info.value)
  assert '\n' not in message
  return message


# --- Python API. ---


def test_custom_layer_without_options_names_the_fix(files):
  message = _load_error(files['custom'])
  assert "'ScaledDense'" in message
  assert f'--import={USER_MODULE}' in message
  assert '--custom_objects=py:module:dict' in message
  assert 'import_modules=' in message and 'custom_objects=' in message


@pytest.mark.parametrize('how', ['import_modules', 'custom_objects_spec',
                                 'custom_objects_dict'])
def test_custom_layer_loads_with_options(files, user_path, how):
  del user_path  # Used for its side effect.
  if how == 'import_modules':
    options = dict(import_modules=[USER_MODULE])
  elif how == 'custom_objects_spec':
    options = dict(custom_objects=f'py:{USER_MODULE}:CUSTOM_OBJECTS')
  else:
    options = dict(custom_objects=python_objects.resolve(
        f'py:{USER_MODULE}:CUSTOM_OBJECTS'))
  decoder = models.load_decoder(files['custom'], **options)
  assert decoder.format == 'keras3'
  assert decoder.latent_dim == LATENT_DIM
  assert decoder.output_shape == (OUTPUT_DIM,)
  np.testing.assert_allclose(np.asarray(decoder(files['latents'])),
                             files['expected'], rtol=1e-5, atol=1e-6)


def test_lambda_needs_safe_mode_off(files):
  message = _load_error(files['lambda'])
  assert '--unsafe_deserialization' in message
  assert 'safe_mode=False' in message
  assert 'runs code from the file' in message
  decoder = models.load_decoder(files['lambda'], safe_mode=False)
  assert decoder.output_shape == (OUTPUT_DIM,)
  np.testing.assert_allclose(np.asarray(decoder(files['latents'])),
                             files['expected'], rtol=1e-5, atol=1e-6)


def test_bad_options_fail_with_one_line(files, user_path):
  del user_path  # Used for its side effect.
  for options, expected in [
      (dict(import_modules=['tfrd_no_such_module']),
       "Could not import tfrd_no_such_module (--import, import_modules=): "
       "ModuleNotFoundError: No module named 'tfrd_no_such_module'"),
      (dict(custom_objects='py:tfrd_no_such_module:OBJECTS'),
       'Could not import tfrd_no_such_module'),
      (dict(custom_objects=f'py:{USER_MODULE}:NOPE'),
       f"Module {USER_MODULE} has no attribute 'NOPE'"),
      (dict(custom_objects=f'py:{USER_MODULE}'), 'Bad custom_objects'),
      (dict(custom_objects=f'py:{USER_MODULE}:NOT_A_DICT'),
       'is a list, not a dict'),
      (dict(custom_objects=[1, 2]), 'is a list, not a dict'),
  ]:
    assert expected in _load_error(files['custom'], **options)


def test_keras_model_loader_takes_the_options(files, user_path):
  del user_path  # Used for its side effect.
  with pytest.raises(models.ModelError, match='--import='):
    models.load_keras_model(files['custom'])
  model = models.load_keras_model(files['custom'],
                                  import_modules=USER_MODULE)
  np.testing.assert_allclose(np.asarray(model(files['latents'])),
                             files['expected'], rtol=1e-5, atol=1e-6)


def test_resolve_owns_py_specs():
  assert python_objects.resolve('py:os.path:join') is os.path.join
  assert python_objects.resolve('os.path:join.__name__') == 'join'
  assert python_objects.parse('py:a.b:c.d') == ('a.b', 'c.d')
  for spec, message in [('py:os', 'Bad thing'),
                        ('py::x', 'Bad thing'),
                        ('py:os:nope', "Module os has no attribute 'nope' "
                                       "(thing 'py:os:nope')"),
                        ('py:tfrd_no_such_module:x',
                         "Could not import tfrd_no_such_module (thing")]:
    with pytest.raises(python_objects.PythonObjectError) as info:
      python_objects.resolve(spec, 'thing')
    assert message in str(info.value)


# --- apps.rd_curve end to end. ---


def _rd_curve(files, tmp_path, model, *flags, env=None):
  output_dir = tmp_path / 'out'
  result = _run('apps.rd_curve', f'--model={files[model]}',
                f'--dataset=npz:{files["data"]}', '--num_images=3',
                f'--output_dir={output_dir}', '--jit=false', *TINY_AIS_FLAGS,
                *flags, env=env)
  return result, output_dir


def _assert_fails_cleanly(result, output_dir, *messages):
  assert result.returncode == 2, result.stderr[-3000:]
  lines = _error_lines(result.stderr)
  assert len(lines) == 1, result.stderr[-3000:]
  for message in messages:
    assert message in lines[0]
  assert 'Traceback' not in result.stderr
  assert not os.path.exists(output_dir / 'curve.json')


def _curve_config(result, output_dir):
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_dir / 'curve.json') as stream:
    return json.load(stream)['config']


@pytest.mark.slow
def test_rd_curve_custom_layer_needs_import(files, tmp_path):
  env = {'PYTHONPATH': os.pathsep.join([REPO, files['module_dir']])}
  result, output_dir = _rd_curve(files, tmp_path, 'custom', env=env)
  _assert_fails_cleanly(result, output_dir, "'ScaledDense'",
                        f'--import={USER_MODULE}')
  result, output_dir = _rd_curve(files, tmp_path, 'custom',
                                 f'--import={USER_MODULE}', env=env)
  config = _curve_config(result, output_dir)
  assert config['imports'] == [USER_MODULE]
  assert config['custom_objects'] is None
  assert config['unsafe_deserialization'] is False


@pytest.mark.slow
def test_rd_curve_custom_objects_and_bad_import(files, tmp_path):
  env = {'PYTHONPATH': os.pathsep.join([REPO, files['module_dir']])}
  spec = f'py:{USER_MODULE}:CUSTOM_OBJECTS'
  result, output_dir = _rd_curve(files, tmp_path, 'custom',
                                 f'--custom_objects={spec}', env=env)
  assert _curve_config(result, output_dir)['custom_objects'] == spec
  result, output_dir = _rd_curve(files, tmp_path / 'bad', 'custom',
                                 '--import=tfrd_no_such_module', env=env)
  _assert_fails_cleanly(result, output_dir,
                        'Could not import tfrd_no_such_module (--import)',
                        "No module named 'tfrd_no_such_module'")


@pytest.mark.slow
def test_rd_curve_lambda_needs_unsafe_deserialization(files, tmp_path):
  result, output_dir = _rd_curve(files, tmp_path, 'lambda')
  _assert_fails_cleanly(result, output_dir, '--unsafe_deserialization',
                        'runs code from the file')
  result, output_dir = _rd_curve(files, tmp_path, 'lambda',
                                 '--unsafe_deserialization')
  assert _curve_config(result, output_dir)['unsafe_deserialization'] is True
  assert 'arbitrary code' in result.stderr  # the warning line
