"""Distortion measures d(x, f(z)) between data and decoder outputs.

Every distortion maps flattened data `x` [..., E] and reconstructions `x_hat`
[..., E] (broadcastable) to one value per example [...], summed over the E
dimensions as in the paper (squared error is the *sum*, not the mean).
A negative log-likelihood distortion (`is_nll`) makes the β = 1 point of the
curve the model's log-likelihood: log p(x) = -(R_1 + D_1) (Prop. 2c).
"""

import math

import tensorflow as tf

__all__ = [
    'Distortion',
    'SquaredError',
    'GaussianNLL',
    'BernoulliNLL',
    'get_distortion',
]


class Distortion:
  """Base class: a per-example distortion summed over data dimensions."""

  name = 'distortion'
  is_nll = False

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
  """d(x, x̂) = -log N(x | x̂, σ² I), summed over dimensions.

  Args:
    scale: the observation standard deviation σ (> 0).
  """

  name = 'gaussian_nll'
  is_nll = True

  def __init__(self, scale=1.0):
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
      raise ValueError(f'GaussianNLL scale must be positive, got {scale!r}.')
    self.scale = scale

  @property
  def precision_factor(self):
    """a in d = a·||x - x̂||² + c."""
    return 0.5 / self.scale**2

  def constant(self, num_dims):
    """c in d = a·||x - x̂||² + c for `num_dims` data dimensions."""
    return num_dims * (math.log(self.scale) + 0.5 * math.log(2 * math.pi))

  def __call__(self, x, x_hat):
    x = tf.cast(x, x_hat.dtype)
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


_BY_NAME = {
    'mse': SquaredError,
    'squared_error': SquaredError,
    'gaussian_nll': GaussianNLL,
    'bernoulli_nll': BernoulliNLL,
}


def get_distortion(name, **kwargs):
  """Returns the distortion called `name` ('mse', 'gaussian_nll', 'bernoulli_nll').

  Raises:
    ValueError: for an unknown name.
  """
  if isinstance(name, Distortion):
    return name
  try:
    cls = _BY_NAME[name]
  except KeyError:
    raise ValueError(
        f'Unknown distortion {name!r}; choose one of '
        f'{sorted(set(_BY_NAME) - {"squared_error"})}.') from None
  return cls(**kwargs)
