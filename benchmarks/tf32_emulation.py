"""TF32 emulated on any device: a measurement tool of the precision study.

Why it exists: TensorFlow runs "float32" matmuls and convolutions in TF32
(10-bit mantissas) on NVIDIA Ampere and newer GPUs unless told not to, and
TFP warns that this may hinder MCMC convergence. On a CPU TensorFlow's TF32
switch does nothing, so `benchmarks.precision_study` measures TF32's effect
on an AIS curve with a decoder rebuilt here: in every Dense, EinsumDense and
(transposed) convolution layer the inputs and the kernel of the matmul are
rounded to TF32 (`round_to_tf32`, round to nearest) and the products
accumulate in float32, forward and in the backward pass HMC takes (the
gradient with respect to the layer input: the gradient entering each
transposed matmul is rounded the same way). It is not a decoder precision
the apps offer (`adapters.precision.PRECISIONS`): the study applies it to
the decoder it measures.

Importing this module loads no TensorFlow (the benchmarks are started by
`pipelines.jobs.run`, which must install its notice filter first); the
gradient-rounding ops are built on first use.

- `emulate_tf32(decoder)`: the decoder computing as TF32 hardware would.
- `round_to_tf32` and `round_to_tf32_numpy`: float32 rounded to TF32's 10-bit
  mantissa.
"""

import functools
import importlib

import numpy as np

from adapters.keras_decoder import LoadedDecoder

__all__ = ['PRECISION', 'METHOD', 'emulate_tf32', 'round_to_tf32',
           'round_to_tf32_numpy']

# The name the precision study gives the emulated decoder's rows.
PRECISION = 'tf32_emulated'
# The `LoadedDecoder.transforms` entry's method.
METHOD = ('Dense/convolution kernels and inputs rounded to TF32 (10-bit '
          'mantissa, round to nearest), accumulation in float32; the '
          'backward pass to the inputs rounds the incoming gradient the same '
          'way')

# TF32: float32's sign and 8 exponent bits, 10 of its 23 mantissa bits. The
# 13 dropped bits are rounded to nearest, ties away from zero (as NVIDIA's
# cvt.rna.tf32.f32 conversion does; hardware fed raw float32 bits truncates
# instead, which errs up to twice as much): add half of the last kept bit,
# clear the dropped ones. Overflow past the largest TF32 number gives
# infinity, as rounding to nearest must.
_TF32_DROPPED_BITS = 13
_TF32_HALF = 1 << (_TF32_DROPPED_BITS - 1)  # 0x1000
_TF32_KEEP = ~((1 << _TF32_DROPPED_BITS) - 1)  # ...1110 0000 0000 0000
_ABS_MASK = 0x7FFFFFFF
_INFINITY_BITS = 0x7F800000

# Layers whose matmul (or convolution) is rounded. Looked up by name in the
# model's Keras (keras or tf_keras); a missing name is skipped.
_TF32_LAYERS = ('Dense', 'EinsumDense', 'Conv1D', 'Conv2D', 'Conv3D',
                'Conv1DTranspose', 'Conv2DTranspose', 'Conv3DTranspose')
# Layers that multiply no matrices: TF32 leaves them alone.
_MATMUL_FREE_LAYERS = (
    'InputLayer', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU',
    'Softmax', 'Reshape', 'Flatten', 'Permute', 'RepeatVector', 'Identity',
    'Cropping1D', 'Cropping2D', 'Cropping3D', 'ZeroPadding1D',
    'ZeroPadding2D', 'ZeroPadding3D', 'UpSampling1D', 'UpSampling2D',
    'UpSampling3D', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D',
    'SpatialDropout3D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
    'ActivityRegularization', 'BatchNormalization', 'LayerNormalization',
    'GroupNormalization', 'UnitNormalization', 'Rescaling', 'Add',
    'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate',
    'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D',
    'AveragePooling2D', 'AveragePooling3D', 'GlobalAveragePooling1D',
    'GlobalAveragePooling2D', 'GlobalAveragePooling3D', 'GlobalMaxPooling1D',
    'GlobalMaxPooling2D', 'GlobalMaxPooling3D')
# Keras 3 functional-graph operations (keras.ops calls, not layers) and
# tf_keras TFOpLambda symbols that multiply matrices: not emulated.
_MATMUL_OPERATIONS = ('matmul', 'einsum', 'tensordot', 'dot', 'inner', 'outer',
                      'vdot', 'conv', 'convtranspose', 'conv_transpose',
                      'depthwiseconv', 'separableconv', 'conv2d', 'conv1d',
                      'conv3d', 'conv2d_transpose', 'linalg')


def _precision():
  """adapters.precision, loaded on first use: it imports TensorFlow, which
  importing this module does not (a benchmark's --help stays quick)."""
  return importlib.import_module('adapters.precision')


def round_to_tf32_numpy(values):
  """float32 `values` rounded to TF32 (10 mantissa bits), as numpy float32.

  Round to nearest with ties away from zero on the float32 bit pattern; NaN
  stays NaN, infinities stay infinite, numbers beyond TF32's largest finite
  value become infinite.

  Args:
    values: array-like; converted to float32 first.

  Returns:
    A float32 array of the same shape.
  """
  values = np.asarray(values, dtype=np.float32)
  bits = values.view(np.uint32)
  sign = bits & np.uint32(0x80000000)
  magnitude = np.minimum(bits & np.uint32(_ABS_MASK),
                         np.uint32(_INFINITY_BITS))
  rounded = (magnitude + np.uint32(_TF32_HALF)) & np.uint32(
      _TF32_KEEP & 0xFFFFFFFF)
  result = (sign | rounded).view(np.float32)
  return np.where(np.isnan(values), values, result).astype(np.float32)


def round_to_tf32(values):
  """A float32 tensor rounded to TF32, as `round_to_tf32_numpy` does.

  Differentiable nowhere (bit operations); the emulated layers wrap it in
  straight-through gradients.

  Args:
    values: a float32 tensor.

  Returns:
    The rounded float32 tensor.

  Raises:
    ValueError: for another dtype.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values = tf.convert_to_tensor(values)
  if values.dtype != tf.float32:
    raise ValueError(f'TF32 rounding applies to float32 values, not '
                     f'{values.dtype.name}.')
  bits = tf.bitcast(values, tf.int32)
  sign = tf.bitwise.bitwise_and(bits, tf.constant(-(1 << 31), tf.int32))
  # Clamped to infinity's bits so that NaN payloads cannot overflow; NaNs are
  # put back below.
  magnitude = tf.minimum(tf.bitwise.bitwise_and(bits, _ABS_MASK),
                         _INFINITY_BITS)
  rounded = tf.bitwise.bitwise_and(magnitude + _TF32_HALF, _TF32_KEEP)
  result = tf.bitcast(tf.bitwise.bitwise_or(sign, rounded), tf.float32)
  return tf.where(tf.math.is_nan(values), values, result)


@functools.lru_cache(maxsize=None)
def _gradient_ops():
  """(tf32_inputs, tf32_gradients): the rounding ops of an emulated matmul.

  tf32_inputs: forward, TF32 rounding of a matmul input; backward, straight
  through. tf32_gradients: forward, the identity; backward, the gradient
  rounded to TF32. Placed on a matmul's output, the latter rounds the
  gradient that enters the backward matmul (gradient x kernel transposed),
  as TF32 hardware does.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  @tf.custom_gradient
  def tf32_inputs(values):
    return round_to_tf32(values), lambda upstream: upstream

  @tf.custom_gradient
  def tf32_gradients(values):

    def gradient(upstream):
      return round_to_tf32(tf.cast(upstream, tf.float32))

    return tf.identity(values), gradient

  return tf32_inputs, tf32_gradients


def emulate_tf32(decoder):
  """`decoder` computing its matmuls as TF32 hardware does, on any device.

  Args:
    decoder: a `LoadedDecoder` holding a Keras model, or a Keras 3 or
      tf_keras functional or Sequential model, whose matmul layers are
      Dense, EinsumDense or (transposed) convolutions, the other layers
      being matmul-free (activations, reshapes, pooling, normalization,
      merges, ...). It is rebuilt so that each matmul rounds its inputs and
      kernel to TF32 and accumulates in float32 (the kernels are stored
      rounded; biases and activations stay float32); the backward pass
      rounds the gradient entering each transposed matmul as well. Nested
      functional models are rebuilt recursively.

  Returns:
    A decoder of the same kind: a `LoadedDecoder` (same latent size, output
    shape, input dtype and source, `transforms` ending with the precision
    entry) for a `LoadedDecoder`, a Keras model for a Keras model. Outputs
    are float32.

  Raises:
    ValueError: for a decoder that is not a Keras functional or Sequential
      model or holds a layer or operation whose matmuls it cannot round (a
      custom layer, Lambda, attention, a keras.ops.matmul, ...).
  """
  if isinstance(decoder, LoadedDecoder):
    return _emulate_loaded(decoder)
  if _precision().keras_module(decoder) is not None:
    return _rebuild_keras(decoder)
  raise ValueError(
      f'{PRECISION} rounds the matmuls of Keras functional or Sequential '
      f'models; a {type(decoder).__name__} cannot be emulated (its matmuls '
      f'are out of reach).')


def _emulate_loaded(decoder):
  """`emulate_tf32` for a `LoadedDecoder`."""
  source = decoder.source or 'the decoder'
  if _precision().keras_module(decoder.model) is None:
    raise ValueError(
        f'{PRECISION} rounds the matmuls of Keras functional or Sequential '
        f'models; {source} is a {decoder.format or "callable"} decoder'
        + (' wrapped by output conventions' if decoder.transforms else '') +
        ' whose matmuls are out of reach (apply the emulation to the loaded '
        'Keras model, before any wrapper).')
  return LoadedDecoder(
      _rebuild_keras(decoder.model, source=source), decoder.latent_dim,
      decoder.output_shape, dtype=decoder.dtype, source=decoder.source,
      format=decoder.format, output_kind=decoder.output_kind,
      raw_output_shapes=decoder.raw_output_shapes,
      transforms=decoder.transforms + ({
          'transform': 'precision', 'precision': PRECISION,
          'method': METHOD},))


def _rebuild_keras(model, source=None):
  """A Keras functional/Sequential model rebuilt with TF32 matmuls
  (`adapters.precision.rebuild_keras_model`, the rebuild of the decoder
  precisions).

  Raises:
    ValueError: as `emulate_tf32` says.
  """
  module = _precision().keras_module(model)
  source = source or f'Keras model {model.name!r}'
  _check_operations(model, module, source)

  def new_layer_for(layer, config, module):
    if config is None:  # A nested model: rebuilt whole.
      return _rebuild_keras(layer, source=source)
    if _precision().is_layer_instance(layer, module, _TF32_LAYERS):
      config['activation'] = 'linear'
      new_layer = _tf32_class(layer.__class__).from_config(config)
      new_layer.tfrd_activation = layer.activation
      return new_layer
    return layer.__class__.from_config(config)

  clone, pairs = _precision().rebuild_keras_model(model, new_layer_for,
                                               PRECISION, source)
  for old_layer, new_layer in pairs:
    weights = old_layer.get_weights()
    if new_layer.__class__ is not old_layer.__class__:  # Round the kernel.
      kernel = id(old_layer.kernel)
      weights = [round_to_tf32_numpy(value) if id(variable) == kernel
                 else value
                 for variable, value in zip(old_layer.weights, weights)]
    new_layer.set_weights(weights)
  return clone


def _check_operations(model, module, source):
  """Raises ValueError for a layer or operation the emulation can't cover."""
  operations = getattr(model, 'operations', None)
  if operations is None:  # tf_keras
    operations = model.layers
  for operation in operations:
    if _precision().keras_module(operation) is not None:
      continue  # A nested model, checked when rebuilt.
    name = type(operation).__name__
    symbol = str(getattr(operation, 'symbol', '') or '').lower()
    if symbol:  # tf_keras TFOpLambda: tf.* calls in a functional model.
      if any(word in symbol.replace('.', ' ').replace('_', ' ').split()
             or symbol.endswith(word) for word in _MATMUL_OPERATIONS):
        raise _precision().NotRebuildable(
            f'{source}: {PRECISION} cannot round the matmul of operation '
            f'{symbol!r}; it covers the Dense, EinsumDense and convolution '
            f'layers.')
      continue
    if _precision().is_layer_instance(operation, module,
                                      _TF32_LAYERS + _MATMUL_FREE_LAYERS):
      continue
    is_layer = isinstance(operation, module.layers.Layer)
    if is_layer or name.lower() in _MATMUL_OPERATIONS:
      raise _precision().NotRebuildable(
          f'{source}: {PRECISION} cannot emulate '
          f'{"layer" if is_layer else "operation"} '
          f'{getattr(operation, "name", name)!r} ({name}): it rounds the '
          f'matmuls of {", ".join(_TF32_LAYERS)} layers, and passes only '
          f'layers known to multiply no matrices.')


_TF32_CLASSES = {}


def _tf32_class(layer_class):
  """A subclass of a Dense/convolution class whose matmul rounds to TF32.

  The subclass is built with a linear activation; `tfrd_activation` (the
  original layer's) is applied after the rounding of the backward gradient,
  so that the gradient entering the transposed matmul is the one rounded.
  """
  if layer_class not in _TF32_CLASSES:

    def call(self, inputs):
      tf32_inputs, tf32_gradients = _gradient_ops()
      outputs = super(subclass, self).call(tf32_inputs(inputs))
      outputs = tf32_gradients(outputs)
      activation = getattr(self, 'tfrd_activation', None)
      return outputs if activation is None else activation(outputs)

    subclass = type(f'TF32Emulated{layer_class.__name__}', (layer_class,),
                    {'call': call, '__module__': __name__})
    _TF32_CLASSES[layer_class] = subclass
  return _TF32_CLASSES[layer_class]
