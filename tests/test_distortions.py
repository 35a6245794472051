"""Distortions against NumPy oracles; SSIM and deep-feature AIS end to end."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrd
from tfrd import distortions

RNG_SEED = 0


def _rng():
  return np.random.default_rng(RNG_SEED)


def _numpy_ssim(x, y, max_val, filter_size, filter_sigma, k1=0.01, k2=0.03):
  """SSIM per image of [B, H, W, C] arrays (Wang et al. 2004), float64.

  Gaussian window, 'VALID' filtering, mean over positions and channels: the
  definition `tf.image.ssim` documents, written out independently.
  """
  coords = np.arange(filter_size) - (filter_size - 1) / 2.0
  window = np.exp(-0.5 * coords**2 / filter_sigma**2)
  kernel = np.outer(window, window)
  kernel /= kernel.sum()

  def local_mean(values):
    patches = np.lib.stride_tricks.sliding_window_view(
        values, (filter_size, filter_size), axis=(1, 2))
    # patches: [B, H', W', C, f, f]
    return np.einsum('bijcuv,uv->bijc', patches, kernel)

  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  c1, c2 = (k1 * max_val)**2, (k2 * max_val)**2
  mu_x, mu_y = local_mean(x), local_mean(y)
  var_x = local_mean(x * x) - mu_x**2
  var_y = local_mean(y * y) - mu_y**2
  cov = local_mean(x * y) - mu_x * mu_y
  luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
  contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
  return (luminance * contrast_structure).mean(axis=(1, 2, 3))


def _gradient(distortion, x, x_hat, jit_compile=None):
  """d and ∂(Σ d)/∂x̂, optionally through an XLA-compiled tf.function."""

  def value_and_gradient(x_hat):
    with tf.GradientTape() as tape:
      tape.watch(x_hat)
      value = distortion(x, x_hat)
    return value, tape.gradient(value, x_hat)

  if jit_compile is not None:
    value_and_gradient = tf.function(value_and_gradient,
                                     jit_compile=jit_compile)
  value, gradient = value_and_gradient(tf.constant(x_hat))
  return value.numpy(), gradient.numpy()


# Gaussian NLL with the decoder's own variance.


def test_gaussian_nll_decoder_variance_matches_numpy():
  rng = _rng()
  x = rng.uniform(size=(3, 1, 5)).astype(np.float32)
  mean = rng.uniform(size=(3, 4, 5))
  log_variance = rng.uniform(-3.0, 1.0, size=(3, 4, 5))
  x_hat = np.concatenate([mean, log_variance], axis=-1).astype(np.float32)
  distortion = tfrd.GaussianNLL('decoder')
  expected = 0.5 * np.sum(
      (x - mean)**2 / np.exp(log_variance) + log_variance +
      math.log(2 * math.pi), axis=-1)
  value, gradient = _gradient(distortion, x, x_hat)
  assert value.shape == (3, 4)
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  assert np.all(np.isfinite(gradient))
  # ∂d/∂μ = (μ - x)/σ², ∂d/∂log σ² = ½(1 - (x - μ)²/σ²).
  np.testing.assert_allclose(gradient[..., :5],
                             (mean - x) / np.exp(log_variance), rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(
      gradient[..., 5:], 0.5 * (1 - (x - mean)**2 / np.exp(log_variance)),
      rtol=1e-4, atol=1e-6)


def test_gaussian_nll_decoder_variance_equals_fixed_scale():
  rng = _rng()
  sigma = 0.3
  x = rng.uniform(size=(2, 1, 7)).astype(np.float32)
  mean = rng.uniform(size=(2, 3, 7)).astype(np.float32)
  log_variance = np.full_like(mean, 2 * math.log(sigma))
  learned = tfrd.GaussianNLL('decoder')(
      x, np.concatenate([mean, log_variance], axis=-1))
  fixed = tfrd.GaussianNLL(sigma)(x, tf.constant(mean))
  np.testing.assert_allclose(learned.numpy(), fixed.numpy(), rtol=1e-5)


def test_gaussian_nll_decoder_variance_config_and_errors():
  distortion = distortions.get_distortion('gaussian_nll', scale='decoder')
  assert isinstance(distortion, tfrd.GaussianNLL)
  assert distortion.is_nll and distortion.learned_variance
  assert distortion.get_config() == {'name': 'gaussian_nll',
                                     'scale': 'decoder'}
  assert tfrd.GaussianNLL(0.5).get_config() == {'name': 'gaussian_nll',
                                                'scale': 0.5}
  assert not tfrd.GaussianNLL(0.5).learned_variance
  with pytest.raises(ValueError, match='decoder'):
    tfrd.GaussianNLL('learned')
  with pytest.raises(ValueError, match='positive'):
    tfrd.GaussianNLL(0.0)
  # The closed-form coefficients of a fixed scale do not exist here.
  with pytest.raises(ValueError, match='variance'):
    _ = distortion.precision_factor


def test_gaussian_nll_decoder_variance_curve_equals_fixed_scale(
    small_linear_problem):
  # A decoder returning [mean, 2 log σ] traces the curve of GaussianNLL(σ).
  problem = small_linear_problem
  sigma, data_dim = 0.5, problem.kernel.shape[1]
  with_variance = keras.Sequential([keras.Input((problem.latent_dim,)),
                                    keras.layers.Dense(2 * data_dim)])
  with_variance.layers[-1].set_weights([
      np.concatenate([problem.kernel, np.zeros_like(problem.kernel)], 1),
      np.concatenate([problem.bias,
                      np.full(data_dim, 2 * math.log(sigma), np.float32)])])
  schedule = tfrd.build_schedule([0.5, 1.0, 2.0], tfrd.linear_betas(20, 2.0),
                                 0, 0)
  kwargs = dict(latent_dim=problem.latent_dim,
                chains=tfrd.ChainSettings(
                    num_chains=4, seed=2, jit_compile=False,
                    hmc=tfrd.HMCSettings(num_leapfrog_steps=2,
                                         step_size_mode='fixed')))
  learned = tfrd.estimate_rd_curve(with_variance, problem.data[:2],
                                   tfrd.GaussianNLL('decoder'), schedule,
                                   **kwargs)
  fixed = tfrd.estimate_rd_curve(problem.keras_model(), problem.data[:2],
                                 tfrd.GaussianNLL(sigma), schedule, **kwargs)
  np.testing.assert_allclose(learned.distortion_per_image,
                             fixed.distortion_per_image, rtol=1e-4)
  np.testing.assert_allclose(learned.rate_per_image, fixed.rate_per_image,
                             rtol=1e-3, atol=1e-4)
  assert learned.is_nll and learned.log_likelihood == pytest.approx(
      fixed.log_likelihood, rel=1e-4)
  assert learned.config['distortion'] == {'name': 'gaussian_nll',
                                          'scale': 'decoder'}


# SSIM.


@pytest.mark.parametrize('image_shape,filter_size,filter_sigma',
                         [((8, 8, 1), 3, 1.0), ((9, 7, 2), 5, 1.5)])
def test_ssim_matches_numpy_and_tf_image_ssim(image_shape, filter_size,
                                              filter_sigma):
  rng = _rng()
  num_images, num_chains = 3, 4
  num_elements = int(np.prod(image_shape))
  data = rng.uniform(size=(num_images, num_elements)).astype(np.float32)
  x_hat = np.clip(data[:, None] + 0.2 * rng.normal(
      size=(num_images, num_chains, num_elements)), 0, 1).astype(np.float32)
  distortion = distortions.SSIMDistortion(image_shape, filter_size=filter_size,
                                   filter_sigma=filter_sigma)
  prepared = distortion.prepare(data)
  assert prepared.shape == (num_images, *image_shape)
  # The AIS target's layout: prepared data [N, 1, ...], outputs [N, C, E].
  value = distortion(tf.expand_dims(prepared, 1), tf.constant(x_hat)).numpy()
  assert value.shape == (num_images, num_chains)

  images = lambda flat: flat.reshape(-1, *image_shape)
  expected = 1 - _numpy_ssim(
      images(np.repeat(data, num_chains, axis=0)), images(x_hat), 1.0,
      filter_size, filter_sigma).reshape(num_images, num_chains)
  np.testing.assert_allclose(value, expected, atol=2e-5)
  direct = tf.image.ssim(
      images(np.repeat(data, num_chains, axis=0)), images(x_hat), 1.0,
      filter_size=filter_size, filter_sigma=filter_sigma).numpy()
  np.testing.assert_allclose(value, 1 - direct.reshape(value.shape),
                             atol=1e-6)
  # Flattened data give the same values as prepared images.
  np.testing.assert_allclose(
      distortion(data[:, None], tf.constant(x_hat)).numpy(), value, atol=1e-7)


def test_ssim_of_identical_images_is_zero_with_default_window():
  rng = _rng()
  data = rng.uniform(size=(2, 28 * 28)).astype(np.float32)
  distortion = distortions.SSIMDistortion((28, 28, 1))  # filter 11 fits 28×28.
  assert not distortion.is_nll
  value = distortion(distortion.prepare(data)[:, None],
                     tf.constant(data[:, None])).numpy()
  np.testing.assert_allclose(value, np.zeros((2, 1)), atol=1e-6)
  noisy = np.clip(data + 0.3 * rng.normal(size=data.shape), 0, 1)
  value = distortion(distortion.prepare(data)[:, None],
                     tf.constant(noisy[:, None], tf.float32)).numpy()
  np.testing.assert_allclose(
      value[:, 0], 1 - _numpy_ssim(data.reshape(-1, 28, 28, 1),
                                   noisy.reshape(-1, 28, 28, 1), 1.0, 11, 1.5),
      atol=2e-5)
  assert np.all(value > 0.1)


def test_ssim_gradients_finite_under_xla():
  rng = _rng()
  distortion = distortions.SSIMDistortion((8, 8), filter_size=3)
  data = rng.uniform(size=(2, 64)).astype(np.float32)
  x = distortion.prepare(data)[:, None]
  # Identical images included: SSIM is at its maximum there.
  x_hat = np.stack([data, rng.uniform(size=(2, 64))], axis=1).astype(
      np.float32)
  eager_value, eager_gradient = _gradient(distortion, x, x_hat)
  xla_value, xla_gradient = _gradient(distortion, x, x_hat, jit_compile=True)
  assert np.all(np.isfinite(eager_gradient))
  np.testing.assert_allclose(eager_gradient[:, 0], 0.0, atol=1e-5)
  assert np.abs(eager_gradient[:, 1]).max() > 1e-4
  np.testing.assert_allclose(xla_value, eager_value, atol=1e-6)
  np.testing.assert_allclose(xla_gradient, eager_gradient, atol=1e-5)


def test_ssim_argument_checks():
  with pytest.raises(ValueError, match='filter_size'):
    distortions.SSIMDistortion((8, 8, 1))  # 11×11 does not fit 8×8.
  with pytest.raises(ValueError, match='image_shape'):
    distortions.SSIMDistortion((64,))
  with pytest.raises(ValueError, match='image_shape'):
    distortions.SSIMDistortion((8, 0, 1), filter_size=3)
  distortion = distortions.get_distortion('ssim', image_shape=(8, 8),
                                          filter_size=3)
  assert distortion.image_shape == (8, 8, 1)
  assert distortion.get_config() == {
      'name': 'ssim', 'image_shape': [8, 8, 1], 'max_val': 1.0,
      'filter_size': 3, 'filter_sigma': 1.5, 'k1': 0.01, 'k2': 0.03}
  with pytest.raises(ValueError, match='image_shape'):
    distortions.get_distortion('ssim')


# Deep features.


def _linear_extractor(image_shape, num_features, seed=1):
  """Keras φ(x) = flatten(x)·W + b, with dropout that must stay inactive."""
  rng = np.random.default_rng(seed)
  kernel = rng.normal(size=(int(np.prod(image_shape)), num_features)).astype(
      np.float32)
  bias = rng.normal(size=num_features).astype(np.float32)
  model = keras.Sequential([
      keras.Input(image_shape), keras.layers.Flatten(),
      keras.layers.Dense(num_features), keras.layers.Dropout(0.5)],
                           name='linear_features')
  model.layers[1].set_weights([kernel, bias])
  return model, kernel, bias


def test_feature_distortion_linear_extractor_matches_numpy():
  rng = _rng()
  image_shape = (4, 3, 2)
  model, kernel, bias = _linear_extractor(image_shape, num_features=5)
  data = rng.uniform(size=(3, 24)).astype(np.float32)
  x_hat = rng.uniform(size=(3, 4, 24)).astype(np.float32)
  distortion = distortions.DeepFeatureDistortion(model, image_shape)
  prepared = distortion.prepare(data)
  np.testing.assert_allclose(prepared.numpy(), data @ kernel + bias,
                             rtol=1e-5)
  value, gradient = _gradient(distortion, prepared[:, None], x_hat)
  expected = np.sum(((data[:, None] - x_hat) @ kernel)**2, axis=-1)
  # training=False: the dropout layer is the identity, so this is exact.
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  # ∂d/∂x̂ = 2 (x̂ - x) W Wᵀ.
  np.testing.assert_allclose(
      gradient, 2 * ((x_hat - data[:, None]) @ kernel) @ kernel.T, rtol=1e-4,
      atol=1e-4)
  assert distortion.get_config() == {
      'name': 'features', 'image_shape': [4, 3, 2],
      'feature_extractor': 'linear_features'}
  assert not distortion.is_nll


def test_feature_distortion_identity_equals_squared_error():
  rng = _rng()
  data = rng.uniform(size=(2, 12)).astype(np.float32)
  x_hat = tf.constant(rng.uniform(size=(2, 3, 12)), tf.float32)
  distortion = distortions.get_distortion(
      'features', feature_extractor=tf.identity, image_shape=(2, 6),
      name='pixels')
  value = distortion(distortion.prepare(data)[:, None], x_hat)
  np.testing.assert_allclose(
      value.numpy(), tfrd.SquaredError()(data[:, None], x_hat).numpy(),
      rtol=1e-6)
  assert distortion.get_config()['name'] == 'pixels'
  assert distortion.get_config()['feature_extractor'] == 'identity'


def test_feature_distortion_conv_gradients_finite_under_xla():
  rng = _rng()
  extractor = _conv_extractor((8, 8, 1))
  distortion = distortions.DeepFeatureDistortion(extractor, (8, 8, 1))
  data = rng.uniform(size=(2, 64)).astype(np.float32)
  x = distortion.prepare(data)[:, None]
  x_hat = rng.uniform(size=(2, 3, 64)).astype(np.float32)
  eager_value, eager_gradient = _gradient(distortion, x, x_hat)
  xla_value, xla_gradient = _gradient(distortion, x, x_hat, jit_compile=True)
  assert eager_value.shape == (2, 3)
  assert np.all(np.isfinite(eager_gradient))
  assert np.abs(eager_gradient).max() > 0
  np.testing.assert_allclose(xla_value, eager_value, rtol=1e-4)
  np.testing.assert_allclose(xla_gradient, eager_gradient, rtol=1e-3,
                             atol=1e-5)


def test_get_distortion_names():
  assert isinstance(distortions.get_distortion('mse'), tfrd.SquaredError)
  with pytest.raises(ValueError, match='ssim'):
    distortions.get_distortion('perceptual')
  with pytest.raises(ValueError, match='features'):
    distortions.get_distortion('features', image_shape=(8, 8, 1))
  existing = distortions.SSIMDistortion((8, 8), filter_size=3)
  assert distortions.get_distortion(existing) is existing


# End to end: AIS with the perceptual distortions.


def _conv_extractor(image_shape):
  return keras.Sequential([
      keras.Input(image_shape),
      keras.layers.Conv2D(4, 3, activation='tanh', strides=2,
                          kernel_initializer=keras.initializers.GlorotNormal(
                              seed=2)),
      keras.layers.Flatten(),
      keras.layers.Dense(6, kernel_initializer=keras.initializers.GlorotNormal(
          seed=3))], name='conv_features')


class _CountingExtractor(keras.Model):
  """Wraps φ and counts, in variables, the calls and images it processes.

  Variables rather than Python counters: inside the compiled AIS loop Python
  runs only while tracing, the variable updates at every execution.
  """

  def __init__(self, inner):
    super().__init__(name='counting_features')
    self.inner = inner
    self.calls = self.add_weight(shape=(), initializer='zeros',
                                 trainable=False, name='calls')
    self.images = self.add_weight(shape=(), initializer='zeros',
                                  trainable=False, name='images')

  def call(self, images, training=False):
    self.calls.assign_add(1.0)
    self.images.assign_add(tf.cast(tf.shape(images)[0], tf.float32))
    return self.inner(images, training=training)


def _tiny_decoder():
  # Latent 3 -> 8×8×1 images in (0, 1).
  return keras.Sequential([
      keras.Input((3,)),
      keras.layers.Dense(64, activation='sigmoid',
                         kernel_initializer=keras.initializers.RandomNormal(
                             stddev=1.0, seed=4))])


def _tiny_schedule():
  return tfrd.build_schedule([0.5, 2.0], tfrd.linear_betas(20, 2.0), 0, 0)


def _decoded_data(decoder, num_images, seed):
  rng = np.random.default_rng(seed)
  latents = rng.normal(size=(num_images, 3)).astype(np.float32)
  images = decoder(latents).numpy()
  return np.clip(images + 0.05 * rng.normal(size=images.shape), 0,
                 1).astype(np.float32).reshape(num_images, 8, 8, 1)


def _check_curve(curve, schedule):
  np.testing.assert_allclose(curve.betas, [0.5, 2.0])
  assert schedule.num_transitions == 20
  for values in (curve.rate, curve.distortion, curve.log_z):
    assert np.all(np.isfinite(values)), values
  assert np.all(curve.rate >= -1e-6)
  assert np.all(np.diff(curve.distortion) < 0), curve.distortion
  assert np.all(np.diff(curve.rate) > 0), curve.rate


def test_ssim_rd_curve_end_to_end():
  decoder = _tiny_decoder()
  data = _decoded_data(decoder, num_images=3, seed=5)
  distortion = distortions.SSIMDistortion((8, 8, 1), filter_size=3,
                                   filter_sigma=1.0)
  schedule = _tiny_schedule()
  curve = tfrd.estimate_rd_curve(
      decoder, data, distortion, schedule, latent_dim=3,
      chains=tfrd.ChainSettings(
          num_chains=4, seed=1,
          hmc=tfrd.HMCSettings(num_leapfrog_steps=2,
                               step_size_mode='fixed')))
  _check_curve(curve, schedule)
  assert np.all(curve.distortion < 2.0)
  assert not curve.is_nll
  assert curve.config['distortion']['name'] == 'ssim'
  # tf.image.ssim compiles: the 'auto' loop stayed under XLA.
  assert curve.config['jit_compiled']


def test_feature_rd_curve_end_to_end_extracts_data_features_once():
  decoder = _tiny_decoder()
  # 64 chains: this extractor leaves the curve nearly flat between the two
  # points (about 0.08 nats), so fewer chains leave its slope to noise.
  num_images, num_chains, num_leapfrog_steps = 3, 64, 2
  data = _decoded_data(decoder, num_images=num_images, seed=6)
  extractor = _CountingExtractor(_conv_extractor((8, 8, 1)))
  distortion = distortions.DeepFeatureDistortion(extractor, (8, 8, 1))
  schedule = _tiny_schedule()
  curve = tfrd.estimate_rd_curve(
      decoder, data, distortion, schedule, latent_dim=3,
      chains=tfrd.ChainSettings(
          num_chains=num_chains, seed=1, jit_compile=False,
          hmc=tfrd.HMCSettings(num_leapfrog_steps=num_leapfrog_steps,
                               step_size_mode='fixed')))
  _check_curve(curve, schedule)
  # One call on the N data images (prepare); every other call is one decoder
  # batch of N·C reconstructions: the initial state and one per leapfrog
  # step.
  decoder_batches = 1 + schedule.num_transitions * num_leapfrog_steps
  assert curve.config['decoder_gradients_per_chain'] == decoder_batches
  assert int(extractor.calls.numpy()) == 1 + decoder_batches
  assert int(extractor.images.numpy()) == (
      num_images + decoder_batches * num_images * num_chains)
  assert curve.config['distortion'] == {
      'name': 'features', 'image_shape': [8, 8, 1],
      'feature_extractor': 'counting_features'}
