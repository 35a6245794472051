"""--decoder_precision and --device: bfloat16 decoders, the TF32 switch,
device pinning; and the precision study with its TF32 emulation
(`benchmarks.tf32_emulation`)."""

import json
import os
import subprocess
import sys
import textwrap

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest
import tensorflow as tf

from adapters import models
from adapters import precision
import app_runner  # pylint: disable=g-bad-import-order
from apps import precision_flags
from benchmarks import tf32_emulation
from pipelines import devices
from apps import rd_curve  # pylint: disable=unused-import  (defines the flags)

FLAGS = flags.FLAGS
REPO = app_runner.REPO
TINY_AIS_FLAGS = list(app_runner.TINY_CURVE_FLAGS)
DATA_DIR = os.environ.get('TFRD_DATA_DIR') or os.path.join(
    os.path.dirname(REPO), 'shared', 'data')


@pytest.fixture(autouse=True)
def _restore_state():
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  with flagsaver.flagsaver():
    yield
  FLAGS.unparse_flags()
  tf.config.experimental.enable_tensor_float_32_execution(tf32)


def _parse(*args):
  FLAGS.unparse_flags()
  FLAGS(['rd_curve', *args])


def _mlp(seed=0, latent_dim=4, hidden=32, outputs=24):
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(seed)
  return keras.Sequential([
      keras.Input((latent_dim,)),
      keras.layers.Dense(hidden, activation='tanh', name='hidden'),
      keras.layers.Dense(outputs, activation='sigmoid', name='pixels'),
      keras.layers.Reshape((4, outputs // 4), name='image'),
  ])


def _latents(batch=16, latent_dim=4, seed=1):
  return np.random.default_rng(seed).normal(
      size=(batch, latent_dim)).astype(np.float32)


# --- TF32 rounding -----------------------------------------------------------


def test_round_to_tf32_known_values():
  ulp = 2.0**-10  # TF32's last mantissa bit at 1.
  values = np.array(
      [1.0, 1 + ulp, 1 + ulp / 2, 1 + ulp / 4, 1 + ulp / 2 + 2.0**-20,
       1 + 3 * ulp / 2, -(1 + ulp / 2), 3.0, 0.1, 2.0**100 * (1 + ulp / 4),
       0.0, -0.0, 3.4028235e38, np.inf, -np.inf], np.float32)
  expected = np.array(
      [1.0, 1 + ulp, 1 + ulp,  # a tie: away from zero
       1.0, 1 + ulp, 1 + 2 * ulp, -(1 + ulp), 3.0,
       0.0999755859375,  # 0x3DCCCCCD -> 0x3DCCC000
       2.0**100, 0.0, -0.0,
       np.inf,  # beyond TF32's largest finite value
       np.inf, -np.inf], np.float32)
  for rounded in (tf32_emulation.round_to_tf32_numpy(values),
                  tf32_emulation.round_to_tf32(tf.constant(values)).numpy()):
    np.testing.assert_array_equal(rounded, expected)
    assert np.signbit(rounded[11])  # -0.0 keeps its sign
    # At most 10 mantissa bits are left.
    assert not np.any(rounded.view(np.uint32) & np.uint32(0x1FFF))
  assert np.isnan(tf32_emulation.round_to_tf32_numpy([np.nan])[0])
  assert np.isnan(
      tf32_emulation.round_to_tf32(tf.constant([np.nan])).numpy()[0])


def test_round_to_tf32_is_round_to_nearest():
  values = np.random.default_rng(0).normal(size=10000).astype(np.float32) * (
      10.0**np.random.default_rng(1).integers(-20, 20, size=10000))
  values = values.astype(np.float32)
  rounded = tf32_emulation.round_to_tf32_numpy(values)
  np.testing.assert_array_equal(
      rounded, tf32_emulation.round_to_tf32(tf.constant(values)).numpy())
  # Within half a TF32 ulp (2^-11 relative) and never the farther neighbour.
  error = np.abs(rounded.astype(np.float64) - values) / np.abs(values)
  assert error.max() <= 2.0**-11 * (1 + 1e-6)
  assert np.mean(rounded != values) > 0.99
  with pytest.raises(ValueError, match='float32'):
    tf32_emulation.round_to_tf32(tf.constant([1.0], tf.float64))


# --- bfloat16 ----------------------------------------------------------------


def test_bfloat16_keras_model_computes_in_bfloat16():
  model = _mlp()
  latents = _latents()
  reference = model(latents).numpy()
  rebuilt = precision.apply_precision(model, 'bfloat16')
  outputs = rebuilt(latents, training=False)
  assert outputs.dtype == tf.float32
  assert outputs.shape == reference.shape
  dense = [layer for layer in _all_layers(rebuilt)
           if layer.name in ('hidden', 'pixels')]
  assert len(dense) == 2
  for layer in dense:
    assert layer.compute_dtype == 'bfloat16'
    assert all(weight.dtype == 'bfloat16' for weight in layer.weights)
  difference = np.abs(outputs.numpy() - reference)
  # Sigmoid outputs in (0, 1): bfloat16 keeps 8 significant bits (ulp 2^-8
  # just below 1); a few roundings along the way.
  assert difference.max() < 4 * 2.0**-8
  assert difference.max() > 0  # it really ran in bfloat16
  assert np.mean(difference > 0) > 0.5
  # The original model is untouched.
  np.testing.assert_array_equal(model(latents).numpy(), reference)


def _all_layers(model):
  for layer in model.layers:
    if hasattr(layer, 'layers'):
      yield from _all_layers(layer)
    else:
      yield layer


def test_bfloat16_loaded_decoder_keeps_what_tfrd_needs():
  decoder = models.decoder_from_object(_mlp(), source='mlp')
  rebuilt = precision.apply_precision(decoder, 'bfloat16')
  assert rebuilt.latent_dim == decoder.latent_dim == 4
  assert rebuilt.output_shape == decoder.output_shape
  assert rebuilt.dtype == 'float32' and rebuilt.source == 'mlp'
  assert rebuilt.takes_training
  (transform,) = rebuilt.describe()['transforms']
  assert transform['transform'] == 'precision'
  assert transform['precision'] == 'bfloat16'
  outputs = rebuilt(tf.constant(_latents()), training=False)
  assert outputs.dtype == tf.float32
  assert np.abs(outputs.numpy() - decoder(_latents()).numpy()).max() > 0


def test_bfloat16_other_callables_get_cast_latents():
  kernel = tf.constant(np.random.default_rng(0).normal(size=(4, 6)),
                       tf.float32)
  seen = []

  def function(latents):
    seen.append(latents.dtype)
    return tf.matmul(tf.cast(latents, tf.float32), kernel)

  wrapped = precision.apply_precision(function, 'bfloat16')
  latents = _latents()
  outputs = wrapped(latents)
  assert seen == [tf.bfloat16] and outputs.dtype == tf.float32
  expected = tf.matmul(tf.cast(tf.cast(latents, tf.bfloat16), tf.float32),
                       kernel)
  np.testing.assert_allclose(outputs.numpy(), expected.numpy(), rtol=1e-6)

  offset = tf.ones([4], tf.float32)

  def float32_only(latents):
    return latents + offset  # fails on bfloat16 latents

  decoder = models.decoder_from_object(float32_only, latent_dim=4)
  with pytest.raises(ValueError, match='cannot run in bfloat16'):
    precision.apply_precision(decoder, 'bfloat16')


def test_tf_keras_models_too():
  tf_keras = pytest.importorskip('tf_keras')
  model = tf_keras.Sequential([
      tf_keras.Input((4,)), tf_keras.layers.Dense(16, activation='tanh'),
      tf_keras.layers.Dense(8, activation='sigmoid')])
  latents = _latents()
  reference = model(latents).numpy()
  for name, tolerance, rebuild in (
      ('bfloat16', 4 * 2.0**-8,
       lambda m: precision.apply_precision(m, 'bfloat16')),
      ('tf32_emulated', 1e-3, tf32_emulation.emulate_tf32)):
    outputs = rebuild(model)(latents)
    assert outputs.dtype == tf.float32
    difference = np.abs(outputs.numpy() - reference)
    assert 0 < difference.max() < tolerance, name


def test_subclassed_keras_model_is_refused():
  import keras  # pylint: disable=g-import-not-at-top

  class Decoder(keras.Model):

    def __init__(self):
      super().__init__()
      self.dense = keras.layers.Dense(6)

    def call(self, latents):
      return self.dense(latents)

  model = Decoder()
  model(tf.zeros([1, 4]))
  for rebuild in (lambda m: precision.apply_precision(m, 'bfloat16'),
                  tf32_emulation.emulate_tf32):
    with pytest.raises(ValueError, match='subclassed Keras model'):
      rebuild(model)


# --- TF32 emulated (benchmarks.tf32_emulation, the precision study's) --------


def test_tf32_emulation_rounds_matmul_inputs_and_kernels():
  model = _mlp()
  latents = _latents()
  rebuilt = tf32_emulation.emulate_tf32(model)
  outputs = rebuilt(latents).numpy()
  hidden_kernel, hidden_bias, pixel_kernel, pixel_bias = (
      w.astype(np.float64) for w in model.get_weights())
  round32 = lambda a: tf32_emulation.round_to_tf32_numpy(a).astype(
      np.float64)
  hidden = np.tanh(round32(latents) @ round32(hidden_kernel) + hidden_bias)
  logits = round32(hidden) @ round32(pixel_kernel) + pixel_bias
  expected = (1 / (1 + np.exp(-logits))).reshape(outputs.shape)
  np.testing.assert_allclose(outputs, expected, atol=2e-6)
  difference = np.abs(outputs - model(latents).numpy())
  assert 0 < difference.max() < 2.0**-8
  # The kernels are stored rounded; the biases are not.
  stored = rebuilt.get_weights()
  np.testing.assert_array_equal(stored[0], round32(hidden_kernel))
  np.testing.assert_array_equal(stored[1], model.get_weights()[1])


def test_tf32_emulation_rounds_the_backward_matmul():
  import keras  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7)])
  kernel = rng.normal(size=(5, 7)).astype(np.float32)
  model.set_weights([kernel, np.zeros(7, np.float32)])
  rebuilt = tf32_emulation.emulate_tf32(model)
  latents = tf.constant(rng.normal(size=(3, 5)).astype(np.float32))
  upstream = rng.normal(size=(3, 7)).astype(np.float32)
  with tf.GradientTape() as tape:
    tape.watch(latents)
    objective = tf.reduce_sum(rebuilt(latents) * upstream)
  gradient = tape.gradient(objective, latents).numpy()
  round32 = lambda a: tf32_emulation.round_to_tf32_numpy(a).astype(
      np.float64)
  np.testing.assert_allclose(gradient, round32(upstream) @ round32(kernel).T,
                             rtol=1e-6, atol=1e-6)
  assert not np.allclose(gradient, upstream @ kernel.T, rtol=1e-7, atol=0)


def test_tf32_emulation_covers_convolutions_and_runs_under_xla():
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  model = keras.Sequential([
      keras.Input((4,)), keras.layers.Dense(2 * 2 * 3, activation='relu'),
      keras.layers.Reshape((2, 2, 3)),
      keras.layers.Conv2DTranspose(2, 3, strides=2, padding='same',
                                   activation='relu'),
      keras.layers.BatchNormalization(),
      keras.layers.Conv2D(1, 3, padding='same', activation='sigmoid')])
  rebuilt = tf32_emulation.emulate_tf32(model)
  names = [type(layer).__name__ for layer in rebuilt.layers]
  assert names[:1] == ['TF32EmulatedDense']
  assert 'TF32EmulatedConv2DTranspose' in names
  assert 'TF32EmulatedConv2D' in names and 'BatchNormalization' in names
  latents = tf.constant(_latents())
  eager = rebuilt(latents, training=False).numpy()
  compiled = tf.function(lambda z: rebuilt(z, training=False),
                         jit_compile=True)(latents).numpy()
  np.testing.assert_allclose(compiled, eager, atol=1e-5)
  difference = np.abs(eager - model(latents, training=False).numpy())
  assert 0 < difference.max() < 1e-2


def test_tf32_emulation_refuses_what_it_cannot_round():
  import keras  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((4,))
  hidden = keras.layers.Dense(6)(inputs)
  with_matmul_op = keras.Model(
      inputs, keras.ops.matmul(hidden, keras.ops.ones((6, 3))))
  with pytest.raises(ValueError, match="cannot emulate operation.*Matmul"):
    tf32_emulation.emulate_tf32(with_matmul_op)
  with_lambda = keras.Sequential([
      keras.Input((4,)), keras.layers.Dense(6),
      keras.layers.Lambda(lambda x: x * 2.0, name='doubling')])
  with pytest.raises(ValueError, match="cannot emulate layer 'doubling'"):
    tf32_emulation.emulate_tf32(with_lambda)
  with pytest.raises(ValueError, match='cannot be emulated'):
    tf32_emulation.emulate_tf32(lambda z: z)
  signature_like = models.decoder_from_object(lambda z: z * 2.0,
                                              latent_dim=4)
  with pytest.raises(ValueError, match='out of reach'):
    tf32_emulation.emulate_tf32(signature_like)


def test_tf32_emulation_of_a_loaded_decoder_records_itself():
  decoder = models.decoder_from_object(_mlp(), source='mlp')
  rebuilt = tf32_emulation.emulate_tf32(decoder)
  assert rebuilt.latent_dim == decoder.latent_dim == 4
  assert rebuilt.output_shape == decoder.output_shape
  assert rebuilt.dtype == 'float32' and rebuilt.source == 'mlp'
  (transform,) = rebuilt.describe()['transforms']
  assert transform == {'transform': 'precision',
                       'precision': 'tf32_emulated',
                       'method': tf32_emulation.METHOD}
  outputs = rebuilt(tf.constant(_latents()), training=False).numpy()
  difference = np.abs(outputs - decoder(_latents()).numpy())
  assert 0 < difference.max() < 2.0**-8


def test_float32_and_tf32_leave_the_decoder_alone():
  decoder = models.decoder_from_object(_mlp())
  assert precision.apply_precision(decoder, 'float32') is decoder
  assert precision.apply_precision(decoder, 'tf32') is decoder
  # TF32 emulation is the precision study's measurement, not a precision
  # of the apps.
  for name in ('float16', 'tf32_emulated'):
    with pytest.raises(ValueError, match='Unknown decoder precision'):
      precision.apply_precision(decoder, name)


# --- the TF32 switch and the flags -------------------------------------------


@pytest.mark.parametrize('name, enabled', [
    ('float32', False), ('tf32', True), ('bfloat16', False)])
def test_tf32_switch(name, enabled):
  tf.config.experimental.enable_tensor_float_32_execution(not enabled)
  assert precision.set_tf32_execution(name) is enabled
  assert tf.config.experimental.tensor_float_32_execution_enabled() is enabled
  assert precision.tf32_execution_enabled() is enabled


def _apply_precision_flags(decoder):
  settings = precision_flags.precision_from_flags()
  return devices.apply_precision(decoder, settings['precision'],
                                 settings['device'], 'rd_curve')


def test_precision_names_agree_with_the_adapter():
  assert precision_flags.PRECISIONS == precision.PRECISIONS
  assert 'tf32_emulated' not in precision.PRECISIONS
  with pytest.raises(ValueError, match='Unknown decoder precision'):
    precision.set_tf32_execution('tf32_emulated')


def test_apply_precision_flags_sets_switch_and_describes(capsys):
  decoder = models.decoder_from_object(_mlp(), source='mlp')
  # TensorFlow's default is on; float32 (the default) turns it off.
  tf.config.experimental.enable_tensor_float_32_execution(True)
  _parse()
  same, config = _apply_precision_flags(decoder)
  assert same is decoder
  assert config == {'decoder_precision': 'float32', 'tf32_execution': False,
                    'device': None}
  assert not tf.config.experimental.tensor_float_32_execution_enabled()

  _parse('--decoder_precision=tf32')
  same, config = _apply_precision_flags(decoder)
  assert same is decoder and config['tf32_execution'] is True
  assert tf.config.experimental.tensor_float_32_execution_enabled()
  if not tf.config.list_logical_devices('GPU'):
    assert 'rd_curve: warning: --decoder_precision=tf32 has an effect on ' \
        'NVIDIA Ampere' in capsys.readouterr().err

  _parse('--decoder_precision=bfloat16', '--device=cpu:0')
  rebuilt, config = _apply_precision_flags(decoder)
  assert config == {'decoder_precision': 'bfloat16', 'tf32_execution': False,
                    'device': '/device:CPU:0'}
  assert rebuilt.describe()['transforms'][-1]['precision'] == 'bfloat16'


def test_rd_curve_help_shows_the_flags():
  key_flags = {flag.name for flag in FLAGS.get_key_flags_for_module(
      sys.modules['apps.rd_curve'])}
  assert {'decoder_precision', 'device'} <= key_flags


@pytest.mark.parametrize('name', [
    'cpu:0', 'CPU:0', '/CPU:0', '/cpu', '/device:CPU:0',
    '/job:localhost/replica:0/task:0/device:CPU:0'])
def test_canonical_device(name):
  assert devices.canonical_device(name) == '/device:CPU:0'


@pytest.mark.parametrize('name', ['/GPU:7', '/CPU:3', 'banana', '/job:w/CPU:0',
                                  '/job:localhost'])
def test_unknown_device_lists_the_available_ones(name):
  with pytest.raises(ValueError, match=r'available devices: .*/device:CPU:0'):
    devices.canonical_device(name)


@pytest.mark.slow  # a fresh process loads TensorFlow
def test_run_on_device_pins_ops_and_variables():
  # Two logical CPUs must be configured before TensorFlow starts: a process
  # of its own.
  script = textwrap.dedent("""
      import tensorflow as tf
      (cpu,) = tf.config.list_physical_devices('CPU')
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
      from pipelines import devices
      device = devices.canonical_device('/CPU:1')

      def job():
        variable = tf.Variable(tf.ones([3, 3]))
        traced = tf.function(lambda x: tf.matmul(x, variable))
        return variable.device, traced(tf.ones([2, 3])).device, tf.ones(
            [1]).device

      print(device, *devices.run_on_device(device, job))
  """)
  result = subprocess.run(
      [sys.executable, '-c', script], cwd=REPO, capture_output=True,
      text=True, timeout=300, check=False,
      env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='2'))
  assert result.returncode == 0, result.stderr[-2000:]
  names = result.stdout.split()
  assert names[0] == '/device:CPU:1'
  assert all(name.endswith('device:CPU:1') for name in names[1:]), names


# --- the app end to end ------------------------------------------------------


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  import keras  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('precision')
  rng = np.random.default_rng(0)
  kernel = (rng.normal(size=(3, 24)) * 0.3).astype(np.float32)
  bias = np.full(24, 0.4, np.float32)
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(24)])
  model.layers[-1].set_weights([kernel, bias])
  paths = {'model': str(root / 'linear.keras'),
           'data': str(root / 'images.npz')}
  model.save(paths['model'])
  np.savez(paths['data'], x=(rng.normal(size=(3, 3)) @ kernel + bias).astype(
      np.float32))
  return paths


@pytest.mark.slow  # starts apps.rd_curve, which loads TensorFlow
def test_rd_curve_unknown_device_fails_before_any_work(files, tmp_path):
  output_dir = tmp_path / 'out'
  result = app_runner.run_app(
      'apps.rd_curve', f'--model={files["model"]}',
      f'--dataset=npz:{files["data"]}', '--num_images=3',
      f'--output_dir={output_dir}', '--device=/GPU:7',
      *TINY_AIS_FLAGS)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('rd_curve: error: --device=/GPU:7: no such '
                             'device; available devices: ')
  assert '/device:CPU:0' in lines[0]
  assert not os.path.exists(output_dir)  # nothing was done


@pytest.mark.slow
def test_rd_curve_on_cpu_in_bfloat16(files, tmp_path):
  output_dir = tmp_path / 'out'
  result = app_runner.run_app(
      'apps.rd_curve', f'--model={files["model"]}',
      f'--dataset=npz:{files["data"]}', '--num_images=3',
      f'--output_dir={output_dir}', '--device=/CPU:0',
      '--decoder_precision=bfloat16', *TINY_AIS_FLAGS)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_dir / 'curve.json') as stream:
    document = json.load(stream)
  config = document['config']
  assert config['decoder_precision'] == 'bfloat16'
  assert config['tf32_execution'] is False
  assert config['device'] == '/device:CPU:0'
  transforms = [t['transform'] for t in config['decoder']['transforms']]
  assert transforms == ['precision', 'output_convention']
  assert all(np.isfinite(point['rate']) for point in document['points'])


@pytest.mark.slow
def test_precision_study_quick(tmp_path):
  data = (['--data=mnist', f'--data_dir={DATA_DIR}']
          if os.path.isdir(os.path.join(DATA_DIR, 'mnist'))
          else ['--data=synthetic'])
  result = app_runner.run_app('benchmarks.precision_study', '--quick',
                              f'--output_dir={tmp_path}', *data)
  assert result.returncode == 0, result.stderr[-3000:]
  assert '(a) linear' in result.stdout and '(b) BDMC' in result.stdout
  with open(tmp_path / 'precision_study.json') as stream:
    document = json.load(stream)
  precisions = ['float32', 'bfloat16', 'tf32_emulated']
  assert [row['precision'] for row in document['linear']['rows']] == precisions
  assert [row['precision'] for row in document['bdmc']['rows']] == precisions
  for row in document['linear']['rows']:
    assert np.isfinite(row['vs_float32']['max_abs_rate_error_nats'])
    assert row['tf32_execution'] is False
  float32_rate, bfloat16_rate = (
      document['linear']['rows'][i]['rate'] for i in (0, 1))
  assert float32_rate != bfloat16_rate  # bfloat16 changed the run
  for row in document['bdmc']['rows']:
    assert np.isfinite(row['gap_nats'])
