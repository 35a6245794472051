"""Spectrally normalized Dense and Conv2D layers (Miyato et al., 2018).

The layer keeps its kernel W unnormalized and computes with W / σ(W), where
σ(W), the largest singular value of W (reshaped to [fan_in, units]), is
estimated by power iteration from a vector u kept between calls:

    v ← normalize(u Wᵀ),   u ← normalize(v W),   σ(W) ≈ v W uᵀ.

One iteration per training call suffices because W changes little between
steps (Algorithm 1 of the paper). Gradients flow through W / σ(W) with u and
v held constant, as in the paper; u is a non-trainable weight, so it is part
of checkpoints and a resumed run continues the same iteration.

(`keras.layers.SpectralNormalization` differs: it overwrites the kernel with
W / σ(W) at each training call, which drops the gradient term through σ.)
"""

import keras
from keras import ops

__all__ = ['SpectralNormDense', 'SpectralNormConv2D']


def _normalize(vector):
  return vector / ops.sqrt(ops.sum(ops.square(vector)) + 1e-12)


class _SpectralNorm:
  """Mixin: the power-iteration vector and the normalized kernel."""

  def _build_power_iteration(self):
    self.power_iteration_u = self.add_weight(
        shape=(1, self.kernel.shape[-1]),
        initializer=keras.initializers.RandomNormal(),
        trainable=False, name='power_iteration_u')

  def normalized_kernel(self, training=False):
    """W / σ(W); in training, also takes one power-iteration step."""
    kernel = self.kernel
    matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
    u = ops.convert_to_tensor(self.power_iteration_u)
    v = ops.stop_gradient(_normalize(ops.matmul(u, ops.transpose(matrix))))
    if training:
      u = ops.stop_gradient(_normalize(ops.matmul(v, matrix)))
      self.power_iteration_u.assign(u)
    sigma = ops.sum(ops.matmul(v, matrix) * u)
    return kernel / sigma

  def spectral_norm(self):
    """The current estimate of σ(W), a Python float."""
    matrix = ops.reshape(self.kernel, (-1, self.kernel.shape[-1]))
    u = ops.convert_to_tensor(self.power_iteration_u)
    v = _normalize(ops.matmul(u, ops.transpose(matrix)))
    return float(ops.sum(ops.matmul(v, matrix) * u))


class SpectralNormDense(_SpectralNorm, keras.layers.Dense):
  """`keras.layers.Dense` computing with its spectrally normalized kernel."""

  def build(self, input_shape):
    super().build(input_shape)
    self._build_power_iteration()

  def call(self, inputs, training=False):
    outputs = ops.matmul(inputs, self.normalized_kernel(training))
    if self.bias is not None:
      outputs = ops.add(outputs, self.bias)
    if self.activation is not None:
      outputs = self.activation(outputs)
    return outputs


class SpectralNormConv2D(_SpectralNorm, keras.layers.Conv2D):
  """`keras.layers.Conv2D` computing with its spectrally normalized kernel.

  The kernel [kh, kw, in, out] is normalized as the matrix
  [kh·kw·in, out], as in Miyato et al.
  """

  def build(self, input_shape):
    super().build(input_shape)
    self._build_power_iteration()

  def call(self, inputs, training=False):
    outputs = self.convolution_op(inputs, self.normalized_kernel(training))
    if self.use_bias:
      if self.data_format == 'channels_last':
        shape = (1, 1, 1, self.filters)
      else:
        shape = (1, self.filters, 1, 1)
      outputs = ops.add(outputs, ops.reshape(self.bias, shape))
    if self.activation is not None:
      outputs = self.activation(outputs)
    return outputs
