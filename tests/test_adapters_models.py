"""Any decoder: every format gives the same curve; conventions; clear errors."""

import json
import warnings

import numpy as np
import pytest
import tensorflow as tf

from adapters import conventions
from adapters import keras_decoder
from adapters import models
import tfrd

LATENT_DIM = 3


def _tiny_schedule():
  return tfrd.build_schedule([0.5, 2.0], tfrd.linear_betas(20, 2.0), 0, 0)


def _curve(decoder, data, seed=0):
  return tfrd.estimate_rd_curve(
      decoder, data, 'mse', _tiny_schedule(), latent_dim=LATENT_DIM,
      chains=_fixed_chains(seed))


def _fixed_chains(seed=0):
  """4 chains, L = 2, fixed step sizes, graph mode: a cheap smoke run."""
  return tfrd.ChainSettings(
      num_chains=4, seed=seed, jit_compile=False,
      hmc=tfrd.HMCSettings(num_leapfrog_steps=2, step_size_mode='fixed'))


class _LinearModule(tf.Module):
  """z -> z·kernel + bias as a tf.Module with a fixed input signature."""

  def __init__(self, kernel, bias):
    super().__init__()
    self.kernel = tf.Variable(kernel)
    self.bias = tf.Variable(bias)

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM], tf.float32)])
  def decode(self, z):
    return tf.nn.bias_add(tf.matmul(z, self.kernel), self.bias)


_PYTHON_MODULE = '''
import os
import numpy as np
import tensorflow as tf

_WEIGHTS = np.load(os.path.join(os.path.dirname(__file__), 'weights.npz'))
_KERNEL = tf.constant(_WEIGHTS['kernel'])
_BIAS = tf.constant(_WEIGHTS['bias'])


def decode(z):
  return tf.nn.bias_add(tf.matmul(z, _KERNEL), _BIAS)

decode.latent_dim = {latent_dim}


def decode_without_size(z):
  return decode(z)


def two_outputs(z):
  return decode(z), decode(z) * 0.0

two_outputs.latent_dim = {latent_dim}

not_callable = 3
'''


def _tf_keras_linear(kernel, bias):
  import tf_keras  # pylint: disable=g-import-not-at-top
  model = tf_keras.Sequential([tf_keras.Input((kernel.shape[0],)),
                               tf_keras.layers.Dense(kernel.shape[1])])
  model.layers[-1].set_weights([kernel, bias])
  return model


@pytest.fixture(scope='module')
def saved(tmp_path_factory, small_linear_problem):
  """The same linear decoder saved in every supported way."""
  problem = small_linear_problem
  root = tmp_path_factory.mktemp('models')
  paths = {}
  paths['keras3'] = str(root / 'linear.keras')
  problem.keras_model().save(paths['keras3'])
  tf_keras_model = _tf_keras_linear(problem.kernel, problem.bias)
  paths['tf_keras_savedmodel'] = str(root / 'tf_keras_savedmodel')
  tf_keras_model.save(paths['tf_keras_savedmodel'])
  paths['tf_keras_h5'] = str(root / 'linear.h5')
  with warnings.catch_warnings():  # tf_keras calls HDF5 legacy; we test it.
    warnings.simplefilter('ignore', UserWarning)
    tf_keras_model.save(paths['tf_keras_h5'])
  module = _LinearModule(problem.kernel, problem.bias)
  paths['saved_model'] = str(root / 'plain_savedmodel')
  tf.saved_model.save(module, paths['saved_model'],
                      signatures={'serving_default': module.decode})
  paths['keras3_export'] = str(root / 'keras3_export')
  problem.keras_model().export(paths['keras3_export'], verbose=False)
  package = root / 'python_decoders'
  package.mkdir()
  np.savez(package / 'weights.npz', kernel=problem.kernel, bias=problem.bias)
  paths['python_dir'] = str(package)
  paths['python_module'] = 'tfrd_test_linear_decoder'
  (package / f'{paths["python_module"]}.py').write_text(
      _PYTHON_MODULE.format(latent_dim=LATENT_DIM))
  return paths


@pytest.fixture(scope='module')
def reference_curve(small_linear_problem):
  # The Keras 3 model object handed straight to tfrd, no adapter involved.
  return _curve(small_linear_problem.keras_model(), small_linear_problem.data)


_CASES = {
    # name: (spec key or None, load_decoder kwargs, expected format)
    'keras3': ('keras3', {}, 'keras3'),
    'tf_keras_savedmodel': ('tf_keras_savedmodel', {}, 'tf_keras_savedmodel'),
    'tf_keras_h5': ('tf_keras_h5', {}, 'tf_keras_h5'),
    'saved_model_signature': ('saved_model', {}, 'saved_model'),
    'saved_model_named_signature': (
        'saved_model', {'signature': 'serving_default'}, 'saved_model'),
    'saved_model_attribute': (
        'saved_model', {'signature': 'attr:decode'}, 'saved_model'),
    'tf_keras_dir_as_saved_model': (
        'tf_keras_savedmodel', {'model_format': 'saved_model'},
        'saved_model'),
    'keras3_export': ('keras3_export', {}, 'saved_model'),
    'python': (None, {}, 'python'),
    'keras3_object': ('keras3_object', {}, 'keras3_object'),
    'tf_keras_object': ('tf_keras_object', {}, 'tf_keras_object'),
}


@pytest.mark.parametrize('case', sorted(_CASES))
def test_every_format_gives_the_same_curve(case, saved, reference_curve,
                                           small_linear_problem, monkeypatch):
  problem = small_linear_problem
  key, kwargs, expected_format = _CASES[case]
  if key is None:
    monkeypatch.syspath_prepend(saved['python_dir'])
    spec = f'py:{saved["python_module"]}:decode'
  elif key == 'keras3_object':
    spec = problem.keras_model()
  elif key == 'tf_keras_object':
    spec = _tf_keras_linear(problem.kernel, problem.bias)
  else:
    spec = saved[key]
  decoder = models.load_decoder(spec, **kwargs)
  assert isinstance(decoder, keras_decoder.LoadedDecoder)
  assert decoder.format == expected_format
  assert decoder.latent_dim == LATENT_DIM
  assert decoder.output_shape == (24,)
  assert decoder.output_kind == 'image'
  json.dumps(decoder.describe())
  outputs = decoder(tf.constant(np.eye(LATENT_DIM, dtype=np.float32)))
  np.testing.assert_allclose(outputs.numpy(), problem.kernel + problem.bias,
                             rtol=1e-6, atol=1e-6)
  curve = _curve(decoder, problem.data)
  np.testing.assert_allclose(curve.rate_per_image,
                             reference_curve.rate_per_image, rtol=1e-5)
  np.testing.assert_allclose(curve.distortion_per_image,
                             reference_curve.distortion_per_image, rtol=1e-5)


def test_auto_detection(saved):
  assert models.detect_format(saved['keras3']) == 'keras3'
  assert models.detect_format(saved['tf_keras_savedmodel']) == 'tf_keras'
  assert models.detect_format(saved['tf_keras_h5']) == 'tf_keras'
  assert models.detect_format(saved['saved_model']) == 'saved_model'
  assert models.detect_format(saved['keras3_export']) == 'saved_model'
  assert models.detect_format('py:package.module:decode') == 'python'


def test_tf_keras_keras_archive_goes_to_tf_keras(tmp_path,
                                                small_linear_problem):
  problem = small_linear_problem
  path = str(tmp_path / 'keras2.keras')
  _tf_keras_linear(problem.kernel, problem.bias).save(path)
  decoder = models.load_decoder(path)
  assert decoder.format == 'tf_keras_keras'
  np.testing.assert_allclose(decoder(tf.zeros([1, LATENT_DIM])).numpy()[0],
                             problem.bias, rtol=1e-6)


def test_legacy_loader_still_works(saved):
  decoder = keras_decoder.load_keras_decoder(saved['keras3'])
  assert (decoder.latent_dim, decoder.output_shape) == (LATENT_DIM, (24,))
  assert decoder.format == 'keras3'


def test_decoder_from_object_variants(small_linear_problem):
  problem = small_linear_problem

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM])])
  def with_signature(z):
    return tf.reshape(tf.matmul(z, problem.kernel), [-1, 4, 6])

  decoder = models.decoder_from_object(with_signature)
  assert (decoder.latent_dim, decoder.output_shape) == (LATENT_DIM, (4, 6))
  assert decoder.format == 'callable'
  plain = models.decoder_from_object(lambda z: tf.matmul(z, problem.kernel),
                                     latent_dim=LATENT_DIM)
  assert plain.output_shape == (24,)
  assert models.decoder_from_object(plain) is plain


def test_signature_with_named_output(tmp_path, small_linear_problem):
  problem = small_linear_problem
  module = _LinearModule(problem.kernel, problem.bias)

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM])])
  def named(latents):
    return {'image': module.decode(latents)}

  path = str(tmp_path / 'named')
  tf.saved_model.save(module, path, signatures={'decode_images': named})
  decoder = models.load_decoder(path)  # The only signature is taken.
  assert 'decode_images' in decoder.source
  np.testing.assert_allclose(decoder(tf.zeros([2, LATENT_DIM])).numpy(),
                             np.tile(problem.bias, [2, 1]), rtol=1e-6)


# --- Errors: one clear line each. ---


def _error(spec, **kwargs):
  with pytest.raises(models.ModelError) as info:
    models.load_decoder(spec, **kwargs)
  message = str(info.value)
  assert '\n' not in message, message
  return message


def test_error_missing_path(tmp_path):
  assert 'not found' in _error(str(tmp_path / 'nope.keras'))
  assert 'not found' in _error(str(tmp_path / 'nope'),
                               model_format='saved_model')


def test_error_unknown_format(tmp_path):
  path = tmp_path / 'decoder.onnx'
  path.write_text('not a model')
  assert 'Unknown model format' in _error(str(path))
  assert 'Unknown model format' in _error(str(path), model_format='onnx')
  assert 'without saved_model.pb' in _error(str(tmp_path))


def test_error_several_inputs(tmp_path):
  import keras  # pylint: disable=g-import-not-at-top
  first, second = keras.Input((2,)), keras.Input((3,))
  model = keras.Model([first, second], keras.layers.Concatenate()(
      [first, second]))
  path = str(tmp_path / 'two_inputs.keras')
  model.save(path)
  assert 'takes 2 inputs' in _error(path)
  assert 'takes 2 inputs' in _error(model)


def test_error_several_outputs_unless_allowed(saved, monkeypatch):
  monkeypatch.syspath_prepend(saved['python_dir'])
  spec = f'py:{saved["python_module"]}:two_outputs'
  assert 'returns 2 outputs' in _error(spec)
  decoder = models.load_decoder(spec, allow_multiple_outputs=True)
  assert decoder.raw_output_shapes == ((24,), (24,))


def test_error_unknown_latent_size(saved, monkeypatch, small_linear_problem):
  monkeypatch.syspath_prepend(saved['python_dir'])
  spec = f'py:{saved["python_module"]}:decode_without_size'
  assert 'unknown latent size' in _error(spec)
  decoder = models.load_decoder(spec, latent_dim=LATENT_DIM)
  assert decoder.output_shape == (24,)
  assert 'unknown latent size' in _error(
      lambda z: tf.matmul(z, small_linear_problem.kernel))


def test_error_python_spec(saved, monkeypatch):
  monkeypatch.syspath_prepend(saved['python_dir'])
  assert 'Could not import' in _error('py:tfrd_no_such_module:decode')
  assert 'no attribute' in _error(f'py:{saved["python_module"]}:nope')
  assert 'not callable' in _error(f'py:{saved["python_module"]}:not_callable')
  assert 'Bad Python decoder spec' in _error('py:just_a_module')


def test_error_saved_model_without_usable_signature(tmp_path, saved,
                                                    small_linear_problem):
  problem = small_linear_problem
  module = _LinearModule(problem.kernel, problem.bias)
  bare = str(tmp_path / 'bare')
  tf.saved_model.save(module, bare, signatures={})
  assert 'it has no signatures' in _error(bare)
  # ... but its tf.function attribute still works.
  assert models.load_decoder(bare, signature='attr:decode').latent_dim == 3
  assert "its tf.function attributes are decode" in _error(
      bare, signature='attr:nope')
  message = _error(saved['saved_model'], signature='serving_nope')
  assert "no signature 'serving_nope'" in message
  assert "'serving_default'" in message

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM])])
  def scaled(z):
    return 2.0 * module.decode(z)

  several = str(tmp_path / 'several')
  tf.saved_model.save(module, several,
                      signatures={'decode_a': module.decode,
                                  'decode_b': scaled})
  message = _error(several)
  assert "signatures 'decode_a', 'decode_b'" in message


def test_error_signature_with_dict_inputs_or_outputs(tmp_path,
                                                     small_linear_problem):
  module = _LinearModule(small_linear_problem.kernel, small_linear_problem.bias)

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM]),
                                tf.TensorSpec([None, 1])])
  def two_inputs(z, label):
    return module.decode(z) + label

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM])])
  def two_outputs(z):
    return {'image': module.decode(z), 'features': z}

  @tf.function(input_signature=[tf.TensorSpec([None, LATENT_DIM])])
  def mean_and_logvar(z):
    return {'mean': module.decode(z), 'logvar': 0.0 * module.decode(z) - 1.0}

  @tf.function(input_signature=[tf.TensorSpec([None, None])])
  def any_size(z):
    return z

  path = str(tmp_path / 'dicts')
  tf.saved_model.save(module, path, signatures={
      'two_inputs': two_inputs, 'two_outputs': two_outputs,
      'mean_and_logvar': mean_and_logvar, 'any_size': any_size})
  assert 'takes 2 inputs (label, z)' in _error(path, signature='two_inputs')
  assert 'returns 2 outputs (features, image)' in _error(
      path, signature='two_outputs')
  assert 'unknown latent size' in _error(path, signature='any_size')
  assert models.load_decoder(path, signature='any_size',
                             latent_dim=5).output_shape == (5,)
  decoder = models.load_decoder(path, signature='mean_and_logvar',
                                allow_multiple_outputs=True)
  mean, log_variance = decoder(tf.zeros([1, LATENT_DIM]))
  np.testing.assert_allclose(log_variance.numpy(), -1.0)
  np.testing.assert_allclose(mean.numpy()[0], small_linear_problem.bias,
                             rtol=1e-6)


# --- Output conventions, on tiny decoders with exact expected values. ---

_NHWC = (3, 4, 2)  # H, W, C
_NCHW = (2, 3, 4)  # C, H, W


def _nhwc_images(z):
  """[B, 3, 4, 2] images whose values depend on z and on the position."""
  base = tf.reshape(tf.range(24, dtype=tf.float32) / 24.0, (1,) + _NHWC)
  return base * (1.0 + z[:, :1, None, None]) + z[:, 1:2, None, None]


def _object(fn):
  return models.decoder_from_object(fn, latent_dim=LATENT_DIM)


_LATENTS = tf.constant([[0.5, -0.25, 1.0], [-1.0, 0.75, 0.0]])


def test_nchw_outputs_are_transposed():
  expected = _nhwc_images(_LATENTS).numpy()
  nchw = _object(lambda z: tf.transpose(_nhwc_images(z), [0, 3, 1, 2]))
  assert nchw.output_shape == _NCHW
  decoder = conventions.apply_output_convention(nchw, layout='nchw')
  assert decoder.output_shape == _NHWC
  np.testing.assert_array_equal(decoder(_LATENTS).numpy(), expected)
  flat_nchw = _object(lambda z: tf.reshape(
      tf.transpose(_nhwc_images(z), [0, 3, 1, 2]), [-1, 24]))
  decoder = conventions.apply_output_convention(
      flat_nchw, layout='nchw', flattened_image_shape=_NCHW)
  assert decoder.output_shape == _NHWC
  np.testing.assert_array_equal(decoder(_LATENTS).numpy(), expected)
  with pytest.raises(models.ModelError, match='NCHW outputs must be'):
    conventions.apply_output_convention(flat_nchw, layout='nchw')


def test_flat_nhwc_outputs_are_reshaped():
  flat = _object(lambda z: tf.reshape(_nhwc_images(z), [-1, 24]))
  decoder = conventions.apply_output_convention(
      flat, flattened_image_shape=_NHWC)
  assert decoder.output_shape == _NHWC
  np.testing.assert_array_equal(decoder(_LATENTS).numpy(),
                                _nhwc_images(_LATENTS).numpy())
  with pytest.raises(models.ModelError, match='cannot be reshaped'):
    conventions.apply_output_convention(flat, flattened_image_shape=(5, 5, 1))


def test_tanh_outputs_are_mapped_to_unit_range():
  tanh = _object(lambda z: tf.tanh(_nhwc_images(z)))
  decoder = conventions.apply_output_convention(tanh, value_range='-1_1')
  expected = (np.tanh(_nhwc_images(_LATENTS).numpy()) + 1.0) / 2.0
  np.testing.assert_allclose(decoder(_LATENTS).numpy(), expected, rtol=1e-6,
                             atol=1e-7)
  values = _object(lambda z: tf.constant([[-1.0, 0.0, 0.5, 1.0]]) + 0.0 * z[:,
                                                                           :1])
  decoder = conventions.apply_output_convention(values, value_range='-1_1')
  np.testing.assert_array_equal(decoder(_LATENTS[:1]).numpy(),
                                [[0.0, 0.5, 0.75, 1.0]])


def test_logits_sigmoid_or_kept():
  logits = _object(lambda z: tf.constant([[-2.0, 0.0, 3.0]]) + 0.0 * z[:, :1])
  decoder = conventions.apply_output_convention(logits, output_kind='logits')
  assert decoder.output_kind == 'image'
  np.testing.assert_allclose(decoder(_LATENTS[:1]).numpy(),
                             [1 / (1 + np.exp([2.0, 0.0, -3.0]))], rtol=1e-6)
  kept = conventions.apply_output_convention(logits, output_kind='logits',
                                             keep_logits=True)
  assert kept.output_kind == 'logits'
  np.testing.assert_array_equal(kept(_LATENTS[:1]).numpy(),
                                [[-2.0, 0.0, 3.0]])
  with pytest.raises(ValueError, match='no value range'):
    conventions.apply_output_convention(logits, output_kind='logits',
                                        value_range='-1_1')


def _mean_logvar_expected(z, value_range='0_1'):
  mean = _nhwc_images(z).numpy()
  log_variance = -mean
  if value_range == '-1_1':
    mean, log_variance = (mean + 1.0) / 2.0, log_variance - np.log(4.0)
  return np.concatenate([mean.reshape(len(mean), -1),
                         log_variance.reshape(len(mean), -1)], axis=1)


@pytest.mark.parametrize('form', ['pair', 'stacked', 'halves', 'nchw_pair'])
@pytest.mark.parametrize('value_range', ['0_1', '-1_1'])
def test_mean_logvar_forms(form, value_range):
  if form == 'pair':
    fn = lambda z: (_nhwc_images(z), -_nhwc_images(z))
    kwargs = {}
  elif form == 'stacked':
    fn = lambda z: tf.stack([_nhwc_images(z), -_nhwc_images(z)], axis=1)
    kwargs = {}
  elif form == 'halves':
    fn = lambda z: tf.concat([tf.reshape(_nhwc_images(z), [-1, 24]),
                              -tf.reshape(_nhwc_images(z), [-1, 24])], -1)
    kwargs = {'flattened_image_shape': _NHWC}
  else:
    to_nchw = lambda x: tf.transpose(x, [0, 3, 1, 2])
    fn = lambda z: [to_nchw(_nhwc_images(z)), to_nchw(-_nhwc_images(z))]
    kwargs = {'layout': 'nchw'}
  raw = models.decoder_from_object(fn, latent_dim=LATENT_DIM,
                                   allow_multiple_outputs=True)
  decoder = conventions.apply_output_convention(
      raw, value_range=value_range, output_kind='mean_logvar', **kwargs)
  assert decoder.output_kind == 'mean_logvar'
  assert decoder.output_shape == _NHWC
  outputs = decoder(_LATENTS).numpy()
  assert outputs.shape == (2, 48)
  np.testing.assert_allclose(outputs, _mean_logvar_expected(
      _LATENTS, value_range), rtol=1e-6, atol=1e-6)


def test_convention_errors():
  two = models.decoder_from_object(
      lambda z: (_nhwc_images(z), _nhwc_images(z)), latent_dim=LATENT_DIM,
      allow_multiple_outputs=True)
  with pytest.raises(models.ModelError, match='returns 2 outputs'):
    conventions.apply_output_convention(two)
  one = _object(_nhwc_images)
  with pytest.raises(models.ModelError, match='mean_logvar decoder returns'):
    conventions.apply_output_convention(one, output_kind='mean_logvar')
  with pytest.raises(ValueError, match='layout must be one of'):
    conventions.apply_output_convention(one, layout='hwc')


def test_describe_convention_is_json():
  description = conventions.describe_convention(
      'nchw', '-1_1', 'image', flattened_image_shape=_NCHW)
  assert description['steps'] == [
      'reshape flat outputs to (2, 3, 4) (NCHW)', 'transpose NCHW to NHWC',
      'map [-1, 1] to [0, 1]: (x + 1) / 2']
  json.dumps(description)
  decoder = conventions.apply_output_convention(
      _object(lambda z: tf.transpose(_nhwc_images(z), [0, 3, 1, 2])),
      layout='nchw')
  assert decoder.describe()['transforms'][-1]['output_layout'] == 'nchw'


def test_nchw_tanh_decoder_gives_the_nhwc_curve(small_linear_problem,
                                                reference_curve):
  """The convention end to end: a transposed, tanh-range decoder's curve."""
  problem = small_linear_problem
  kernel, bias = tf.constant(problem.kernel), tf.constant(problem.bias)

  def nchw_minus_one_to_one(z):
    images = tf.reshape(tf.matmul(z, kernel) + bias, [-1, 2, 3, 4])  # NHWC
    return 2.0 * tf.transpose(images, [0, 3, 1, 2]) - 1.0

  decoder = conventions.apply_output_convention(
      _object(nchw_minus_one_to_one), layout='nchw', value_range='-1_1')
  data = problem.data.reshape(-1, 2, 3, 4)
  curve = _curve(decoder, data)
  np.testing.assert_allclose(curve.rate_per_image,
                             reference_curve.rate_per_image, rtol=1e-4)
  np.testing.assert_allclose(curve.distortion_per_image,
                             reference_curve.distortion_per_image, rtol=1e-4)


def test_keras_model_with_two_outputs_loads_when_allowed(tmp_path):
  import keras  # pylint: disable=g-import-not-at-top
  latents = keras.Input((LATENT_DIM,))
  model = keras.Model(latents, [keras.layers.Dense(4)(latents),
                                keras.layers.Dense(4)(latents)])
  path = str(tmp_path / 'two.keras')
  model.save(path)
  assert 'returns 2 outputs' in _error(path)
  decoder = models.load_decoder(path, allow_multiple_outputs=True)
  assert decoder.raw_output_shapes == ((4,), (4,))
  wrapped = conventions.apply_output_convention(decoder,
                                                output_kind='mean_logvar')
  assert wrapped(tf.zeros([2, LATENT_DIM])).shape == (2, 8)


def test_mean_logvar_decoder_matches_fixed_scale_nll(small_linear_problem):
  """A tanh-range decoder with constant variance: the fixed-σ NLL curve.

  In [-1, 1] units the decoder's standard deviation is 2σ; after the
  convention (mean + 1) / 2 and log-variance - log 4 it is σ, so
  GaussianNLL('decoder') must give the GaussianNLL(σ) curve.
  """
  problem = small_linear_problem
  kernel, bias, sigma = tf.constant(problem.kernel), tf.constant(
      problem.bias), 0.5

  def mean_and_log_variance(z):
    mean = tf.matmul(z, kernel) + bias
    log_variance = tf.zeros_like(mean) + float(np.log((2 * sigma)**2))
    return 2.0 * mean - 1.0, log_variance

  raw = models.decoder_from_object(mean_and_log_variance, latent_dim=LATENT_DIM,
                                   allow_multiple_outputs=True)
  decoder = conventions.apply_output_convention(
      raw, value_range='-1_1', output_kind='mean_logvar')
  assert decoder.output_shape == (24,)
  run = lambda d, distortion: tfrd.estimate_rd_curve(
      d, problem.data, distortion, _tiny_schedule(), latent_dim=LATENT_DIM,
      chains=_fixed_chains())
  learned = run(decoder, tfrd.GaussianNLL('decoder'))
  fixed = run(problem.keras_model(), tfrd.GaussianNLL(sigma))
  np.testing.assert_allclose(learned.rate_per_image, fixed.rate_per_image,
                             rtol=1e-4)
  np.testing.assert_allclose(learned.distortion_per_image,
                             fixed.distortion_per_image, rtol=1e-4)
