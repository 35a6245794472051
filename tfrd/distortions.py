"""Distortion measures d(x, f(z)) between data and decoder outputs.

Every distortion maps flattened data `x` [..., E] and reconstructions `x_hat`
[..., E] (broadcastable) to one value per example [...], summed over the E
dimensions as in the paper (squared error is the *sum*, not the mean).
A negative log-likelihood distortion (`is_nll`) makes the β = 1 point of the
curve the model's log-likelihood: log p(x) = -(R_1 + D_1) (Prop. 2c).

Besides the pixelwise distortions of the paper's experiments (squared error,
Gaussian and Bernoulli NLL) there are the perceptual ones it points to:
`SSIMDistortion` (§1 and §6.3: the distortion need not be a likelihood, so
one may use SSIM) and `DeepFeatureDistortion`, squared error between the
features of a CNN (§6.3, Fig. 6, on MNIST). These compare images rather
than values, so they need the image shape (and SSIM is one value per image,
not a sum over pixels); deep features of the data are computed once in
`prepare`, not at every leapfrog step.
"""

import math

import numpy as np
import tensorflow as tf

from tfrd import decoders

__all__ = [
    'Distortion',
    'SquaredError',
    'GaussianNLL',
    'BernoulliNLL',
    'DeepFeatureDistortion',
    'SSIMDistortion',
    'get_distortion',
]


class Distortion:
  """Base class: a per-example distortion summed over data dimensions."""

  name = 'distortion'
  is_nll = False

  def prepare(self, x):
    """Precomputes what `__call__` needs of the data, once per run.

    The AIS target calls this once with the flattened data [N, E] and passes
    the result, with a chain axis added ([N, 1, ...]), as `x` to every
    `__call__`. Distortions that compare derived quantities (deep features)
    compute them here rather than at every leapfrog step.

    Args:
      x: data [N, E] in the decoder's dtype.

    Returns:
      Tensor [N, ...]; the data itself by default.
    """
    return x

  def __call__(self, x, x_hat):
    """Returns d(x, x_hat) summed over the last axis.

    Args:
      x: data, [..., E].
      x_hat: decoder outputs, [..., E], broadcastable with `x`.

    Returns:
      Tensor [...] in the dtype of `x_hat`.
    """
    raise NotImplementedError

  def get_config(self):
    """JSON-serializable description, stored in `curve.json`."""
    return {'name': self.name}


class SquaredError(Distortion):
  """d(x, x̂) = Σ_e (x_e - x̂_e)², the paper's pixelwise squared error."""

  name = 'mse'

  def __call__(self, x, x_hat):
    x = tf.cast(x, x_hat.dtype)
    return tf.reduce_sum(tf.math.squared_difference(x, x_hat), axis=-1)


class GaussianNLL(Distortion):
  """d(x, x̂) = -log N(x | μ, σ² I), summed over dimensions.

  With a fixed `scale` σ the decoder returns the mean μ = x̂ [..., E]. With
  `scale='decoder'` it returns its own variance as well: x̂ [..., 2E] is the
  flattened mean followed by the flattened log-variance log σ², and

      d = Σ_e ½ [(x_e - μ_e)² / σ_e² + log σ_e² + log 2π],

  the NLL of a Gaussian VAE decoder with learned, per-pixel variance. Either
  way the β = 1 point gives log p(x) (Prop. 2c).

  Args:
    scale: the observation standard deviation σ (> 0), or 'decoder'.

  Raises:
    ValueError: for a non-positive scale or another string.
  """

  name = 'gaussian_nll'
  is_nll = True

  def __init__(self, scale=1.0):
    if isinstance(scale, str):
      if scale != 'decoder':
        raise ValueError(
            f"GaussianNLL scale must be a positive number or 'decoder', got "
            f'{scale!r}.')
      self.scale = scale
      return
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
      raise ValueError(f'GaussianNLL scale must be positive, got {scale!r}.')
    self.scale = scale

  @property
  def learned_variance(self):
    """Whether the decoder returns its own log-variance (scale='decoder')."""
    return self.scale == 'decoder'

  def _check_fixed_scale(self):
    if self.learned_variance:
      # d is then not a quadratic in the decoder mean with fixed coefficients,
      # so the closed forms that use a and c (tfrd.linear) do not apply.
      raise ValueError(
          "GaussianNLL(scale='decoder') has no fixed precision factor or "
          'constant: the variance is an output of the decoder.')

  @property
  def precision_factor(self):
    """a in d = a·||x - x̂||² + c (fixed scale only)."""
    self._check_fixed_scale()
    return 0.5 / self.scale**2

  def constant(self, num_dims):
    """c in d = a·||x - x̂||² + c for `num_dims` data dimensions."""
    self._check_fixed_scale()
    return num_dims * (math.log(self.scale) + 0.5 * math.log(2 * math.pi))

  def __call__(self, x, x_hat):
    x = tf.cast(x, x_hat.dtype)
    if self.learned_variance:
      mean, log_variance = tf.split(x_hat, 2, axis=-1)
      # exp(-log σ²) rather than a division by exp(log σ²): one op, and the
      # gradient with respect to the log-variance stays well scaled.
      per_dim = (tf.math.squared_difference(x, mean) * tf.exp(-log_variance)
                 + log_variance + math.log(2 * math.pi))
      return 0.5 * tf.reduce_sum(per_dim, axis=-1)
    num_dims = tf.cast(tf.shape(x_hat)[-1], x_hat.dtype)
    squared = tf.reduce_sum(tf.math.squared_difference(x, x_hat), axis=-1)
    return self.precision_factor * squared + self.constant(num_dims)

  def get_config(self):
    return {'name': self.name, 'scale': self.scale}


class BernoulliNLL(Distortion):
  """d(x, p) = -Σ_e [x_e log p_e + (1 - x_e) log(1 - p_e)].

  Data may be binary or grey levels in [0, 1] (then this is the cross-entropy
  used to train Bernoulli decoders on real-valued MNIST).

  Args:
    from_logits: whether the decoder returns logits instead of probabilities.
    epsilon: probabilities are clipped to [ε, 1 - ε] so that a saturated
      decoder gives a large finite distortion rather than infinity.
  """

  name = 'bernoulli_nll'
  is_nll = True

  def __init__(self, from_logits=False, epsilon=1e-6):
    self.from_logits = bool(from_logits)
    self.epsilon = float(epsilon)

  def __call__(self, x, x_hat):
    x = tf.cast(x, x_hat.dtype)
    if self.from_logits:
      logits = x_hat
    else:
      probs = tf.clip_by_value(x_hat, self.epsilon, 1.0 - self.epsilon)
      logits = tf.math.log(probs) - tf.math.log1p(-probs)
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(logits))
    x, logits = tf.broadcast_to(x, shape), tf.broadcast_to(logits, shape)
    return tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits),
        axis=-1)

  def get_config(self):
    return {'name': self.name, 'from_logits': self.from_logits,
            'epsilon': self.epsilon}


def _image_shape(image_shape, owner):
  """Validates an image shape: (H, W, C), or (H, W) with one channel."""
  try:
    shape = tuple(int(size) for size in image_shape)
  except (TypeError, ValueError):
    raise ValueError(f'{owner}: image_shape must be a sequence of positive '
                     f'integers, got {image_shape!r}.') from None
  if not shape or any(size < 1 for size in shape):
    raise ValueError(f'{owner}: image_shape must be a sequence of positive '
                     f'integers, got {image_shape!r}.')
  return shape


def _callable_name(obj):
  """A Keras model's name, a function's name, or else the type's name."""
  for attribute in ('name', '__name__'):
    value = getattr(obj, attribute, None)
    if isinstance(value, str) and value:
      return value
  return type(obj).__name__


def _unflatten(values, event_shape):
  """[..., prod(event_shape)] -> [..., *event_shape]."""
  return tf.reshape(values, tf.concat(
      [tf.shape(values)[:-1], tf.constant(event_shape, tf.int32)], axis=0))


class DeepFeatureDistortion(Distortion):
  """d(x, x̂) = Σ_f (φ(x)_f - φ(x̂)_f)², squared error between deep features.

  §6.3 of the paper (Fig. 6) measures distortion as squared error between
  deep features of a CNN on MNIST, a more perceptual metric than pixels;
  the curves of GANs, VAEs and AAEs keep the qualitative behaviour they have
  under pixelwise squared error.

  The features of the data are computed once, by `prepare`; every call then
  passes only the reconstructions through φ. The `x` argument of `__call__`
  is therefore the *prepared* features [..., F], not the data.

  Example (features of the penultimate layer of a trained classifier):

      features = keras.Model(classifier.inputs, classifier.layers[-2].output)
      distortion = tfrd.DeepFeatureDistortion(features, (28, 28, 1))
      curve = tfrd.estimate_rd_curve(decoder, images, distortion, schedule,
                                     latent_dim=10)

  Args:
    feature_extractor: φ, a Keras model (called with `training=False`, see
      `tfrd.decoders`) or any differentiable callable mapping images
      [B, *image_shape] to features [B, ...] (flattened here to [B, F]).
    image_shape: shape of one image as φ expects it, e.g. (28, 28, 1); data
      and decoder outputs are reshaped to it.
    name: the distortion's name in `get_config` and `curve.json`.

  Raises:
    ValueError: for an invalid image shape.
  """

  def __init__(self, feature_extractor, image_shape, name='features'):
    if not callable(feature_extractor):
      raise ValueError(f'feature_extractor must be callable, got '
                       f'{feature_extractor!r}.')
    self.feature_extractor = feature_extractor
    self.image_shape = _image_shape(image_shape, 'DeepFeatureDistortion')
    self.num_elements = int(np.prod(self.image_shape))
    self.name = str(name)

  def features(self, flat_images):
    """φ of flattened images [..., E] -> features [..., F] in their dtype."""
    leading = tf.shape(flat_images)[:-1]
    images = tf.reshape(flat_images, [-1, *self.image_shape])
    # Inference mode: dropout off, batch-norm statistics frozen, so that φ
    # is one fixed function for the whole AIS run.
    features = decoders.call_in_inference_mode(self.feature_extractor, images)
    features = tf.cast(features, flat_images.dtype)
    return tf.reshape(features, tf.concat([leading, [-1]], axis=0))

  def prepare(self, x):
    """Returns φ(x) [N, F] of the flattened data x [N, E], computed once."""
    return self.features(tf.convert_to_tensor(x))

  def __call__(self, x, x_hat):
    """Returns Σ_f (x_f - φ(x̂)_f)².

    Args:
      x: prepared features φ(data) [..., F] (from `prepare`).
      x_hat: flattened decoder outputs [..., E], E = prod(image_shape),
        leading axes broadcastable with those of `x`.

    Returns:
      Tensor [...] in the dtype of `x_hat`.
    """
    x_hat = tf.convert_to_tensor(x_hat)
    features = self.features(x_hat)
    x = tf.cast(x, x_hat.dtype)
    return tf.reduce_sum(tf.math.squared_difference(x, features), axis=-1)

  def get_config(self):
    return {'name': self.name, 'image_shape': list(self.image_shape),
            'feature_extractor': _callable_name(self.feature_extractor)}


class SSIMDistortion(Distortion):
  """d(x, x̂) = 1 - SSIM(x, x̂), one value per image.

  The structural similarity index (Wang et al. 2004) compares local means,
  variances and covariances under a Gaussian window; §1 and §6.3 of the
  paper name it as a perceptual distortion the rate-distortion view allows. The value per image is
  `tf.image.ssim`'s (averaged over positions and channels), so d lies in
  [0, 2] and is 0 exactly for identical images. Not an NLL, and not a sum
  over dimensions: β must be larger than for squared error to reach the same
  precision (d of a whole image is at most 2).

  `tf.image.ssim` filters with 'VALID' padding, so every image side must be
  at least `filter_size`: 11 is fine for 28×28 MNIST; tiny test images need
  a smaller window. It is differentiable and compiles under XLA.

  Args:
    image_shape: (H, W, C) of one image, or (H, W) for one channel.
    max_val: dynamic range of the pixel values (1.0 for [0, 1] images).
    filter_size: side of the Gaussian window.
    filter_sigma: its standard deviation.
    k1: SSIM's luminance stabilizer constant.
    k2: SSIM's contrast stabilizer constant.

  Raises:
    ValueError: for an invalid image shape, or a window larger than the
      image.
  """

  name = 'ssim'

  def __init__(self, image_shape, max_val=1.0, filter_size=11,
               filter_sigma=1.5, k1=0.01, k2=0.03):
    shape = _image_shape(image_shape, 'SSIMDistortion')
    if len(shape) == 2:
      shape += (1,)
    if len(shape) != 3:
      raise ValueError(f'SSIMDistortion: image_shape must be (H, W, C) or '
                       f'(H, W), got {image_shape!r}.')
    self.image_shape = shape
    self.num_elements = int(np.prod(shape))
    self.max_val = float(max_val)
    self.filter_size = int(filter_size)
    self.filter_sigma = float(filter_sigma)
    self.k1, self.k2 = float(k1), float(k2)
    if not self.max_val > 0 or not self.filter_sigma > 0:
      raise ValueError('SSIMDistortion: max_val and filter_sigma must be '
                       'positive.')
    if not 1 <= self.filter_size <= min(shape[:2]):
      # tf.image.ssim would fail only at run time, inside the AIS loop.
      raise ValueError(
          f'SSIMDistortion: filter_size {self.filter_size} does not fit '
          f'images of {shape[0]}x{shape[1]} (tf.image.ssim uses VALID '
          f'filtering); use filter_size <= {min(shape[:2])}.')

  def _as_images(self, values):
    """[..., E] (flattened) or [..., H, W, C] -> [..., H, W, C]."""
    if (values.shape.rank is not None and values.shape.rank >= 3 and
        tuple(values.shape[-3:]) == self.image_shape):
      return values
    return _unflatten(values, self.image_shape)

  def prepare(self, x):
    """Returns the flattened data [N, E] as images [N, H, W, C]."""
    return self._as_images(tf.convert_to_tensor(x))

  def __call__(self, x, x_hat):
    """Returns 1 - SSIM(x, x̂).

    Args:
      x: data as images [..., H, W, C] (from `prepare`) or flattened
        [..., E].
      x_hat: flattened decoder outputs [..., E], leading axes broadcastable
        with those of `x`.

    Returns:
      Tensor [...] in the dtype of `x_hat`.
    """
    x_hat = tf.convert_to_tensor(x_hat)
    x = tf.cast(self._as_images(tf.convert_to_tensor(x)), x_hat.dtype)
    # tf.image.ssim broadcasts the leading axes, so the data [N, 1, ...] are
    # compared with the C chains' reconstructions [N, C, ...] without a copy.
    ssim = tf.image.ssim(x, self._as_images(x_hat), max_val=self.max_val,
                         filter_size=self.filter_size,
                         filter_sigma=self.filter_sigma, k1=self.k1,
                         k2=self.k2)
    return 1.0 - tf.cast(ssim, x_hat.dtype)

  def get_config(self):
    return {'name': self.name, 'image_shape': list(self.image_shape),
            'max_val': self.max_val, 'filter_size': self.filter_size,
            'filter_sigma': self.filter_sigma, 'k1': self.k1, 'k2': self.k2}


_BY_NAME = {
    'mse': SquaredError,
    'squared_error': SquaredError,
    'gaussian_nll': GaussianNLL,
    'bernoulli_nll': BernoulliNLL,
    'features': DeepFeatureDistortion,
    'ssim': SSIMDistortion,
}


def get_distortion(name, /, **kwargs):
  """Returns the distortion called `name`, built with `kwargs`.

  Names: 'mse' (`SquaredError`), 'gaussian_nll' (`GaussianNLL`: `scale`, a
  number or 'decoder'), 'bernoulli_nll' (`BernoulliNLL`), 'features'
  (`DeepFeatureDistortion`: `feature_extractor` and `image_shape` required)
  and 'ssim' (`SSIMDistortion`: `image_shape` required).

  Args:
    name: one of the names above, or a `Distortion`, returned as it is.
    **kwargs: constructor arguments of the distortion.

  Returns:
    A `Distortion`.

  Raises:
    ValueError: for an unknown name or missing required arguments.
  """
  if isinstance(name, Distortion):
    return name
  try:
    cls = _BY_NAME[name]
  except (KeyError, TypeError):
    raise ValueError(
        f'Unknown distortion {name!r}; choose one of '
        f'{sorted(set(_BY_NAME) - {"squared_error"})}.') from None
  try:
    return cls(**kwargs)
  except TypeError as error:
    # e.g. get_distortion('ssim') without image_shape.
    raise ValueError(f'Distortion {name!r}: {error}') from None
