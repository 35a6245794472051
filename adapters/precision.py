"""Decoders computing in reduced precision: bfloat16, and TF32 emulated.

Why this exists. tfrd keeps the chain state, the log-weights and the HMC
arithmetic in float64; only the decoder runs in its own dtype. Reduced
precision there is tempting on accelerators (bfloat16 on TPUs and recent
GPUs, TF32 tensor cores on NVIDIA Ampere and newer), but it is not free for
MCMC, and TensorFlow Probability says so: importing `tfp.mcmc` while
TensorFlow's TF32 switch is on warns that "the resulting loss of precision
may hinder MCMC convergence". TensorFlow turns TF32 on by default, so a
float32 decoder on an Ampere GPU silently multiplies with 10-bit mantissas
unless the switch is turned off (`set_tf32_execution`).

What reduced precision does to HMC. The Metropolis-Hastings test accepts a
leapfrog trajectory with probability min(1, exp(-ΔH)), where ΔH includes
β·(d(x, f(z')) - d(x, f(z))). With a float32 decoder ΔH vanishes as the step
size shrinks. With bfloat16 (8 significant bits: relative rounding errors up
to 2^-8) every pixel of f(z) carries a rounding error that does not shrink
with the step, and the leapfrog gradient is that of the unrounded
arithmetic, not of the rounded (piecewise constant) energy: at a large β the
energy error of even a tiny step is of order β·Σ|x - f(z)|·|f(z)|·2^-8, the
acceptance rate drops, and the step-size adaptation shrinks steps without
curing it. The chain still samples the annealed target of the function
actually evaluated (the test is exact for any deterministic f), so AIS stays
a valid estimate of the *reduced-precision decoder's* curve, which is not
quite the float32 decoder's: it costs mixing, hence tightness, and it
changes the model.
`benchmarks/precision_study.py` measures both effects (on the linear MNIST
decoder in bfloat16 the acceptance at β = 1000 fell from 0.56 to 0.09 and
the rate there came out 3.8 nats high, against 0.3 in float32; rounding the
weights alone moves the exact rate by 0.0002 nats). TF32 (11 significant
bits, 8 times finer than bfloat16) did not measurably hurt there.

"Deterministic f" needs care with bfloat16: XLA computes a bfloat16 model
differently from TensorFlow's eager kernels (outputs differ by up to a
bfloat16 ulp), so a decoder evaluated both ways (e.g. data simulated eagerly
for BDMC, chains run under XLA) is two different functions.

What this module provides:

- `apply_precision(decoder, precision)`: a decoder computing in
  `precision`. For 'bfloat16' a Keras (3 or tf_keras) functional or
  Sequential model is rebuilt layer by layer with a 'bfloat16' dtype policy
  and its weights copied (so rounded to bfloat16): the matmuls, activations
  and everything else run in bfloat16, and the outputs are cast back to
  float32. 'tf32_emulated' rounds, in every Dense and convolution layer, the
  inputs and kernels of the matmul to TF32 (`round_to_tf32`) and accumulates
  in float32, forward and in the backward pass HMC takes (the gradient with
  respect to the layer input); this is how to measure TF32's effect on a CPU,
  where TensorFlow's TF32 switch does nothing. 'float32' and 'tf32' leave the
  decoder alone: TF32 is TensorFlow's global switch, `set_tf32_execution`.
- `set_tf32_execution(precision)`: that switch, on for 'tf32' only.
- `round_to_tf32` and `round_to_tf32_numpy`: float32 rounded to TF32's 10-bit
  mantissa.
"""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from adapters.keras_decoder import LoadedDecoder  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfrd import decoders  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['PRECISIONS', 'apply_precision', 'set_tf32_execution',
           'tf32_execution_enabled', 'round_to_tf32', 'round_to_tf32_numpy',
           'describe_precision']

# 'float32': full float32 (TF32 off). 'tf32': float32 decoder, TensorFlow's
# TF32 switch on (has an effect on NVIDIA Ampere+ GPUs only). 'bfloat16': the
# decoder rebuilt in bfloat16. 'tf32_emulated': TF32 rounding of the matmul
# inputs done explicitly, on any device.
PRECISIONS = ('float32', 'tf32', 'bfloat16', 'tf32_emulated')

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

# Layers whose matmul (or convolution) `tf32_emulated` rounds. Looked up by
# name in the model's Keras (keras or tf_keras); a missing name is skipped.
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

_METHODS = {
    'bfloat16': ("Keras model rebuilt with a 'bfloat16' dtype policy in every "
                 'layer (weights rounded to bfloat16, all arithmetic in '
                 'bfloat16); outputs cast to float32'),
    'bfloat16_cast': ('latents cast to bfloat16 before the call, outputs to '
                      'float32 after it; what runs in bfloat16 inside is up '
                      "to the callable's own dtype handling"),
    'tf32_emulated': ('Dense/convolution kernels and inputs rounded to TF32 '
                      '(10-bit mantissa, round to nearest), accumulation in '
                      'float32; the backward pass to the inputs rounds the '
                      'incoming gradient the same way'),
}


class _NotRebuildable(ValueError):
  """A model `apply_precision` cannot rebuild; the message says why."""


def _check_precision(precision):
  if precision not in PRECISIONS:
    raise ValueError(f'Unknown decoder precision {precision!r}; expected one '
                     f'of {", ".join(PRECISIONS)}.')


def set_tf32_execution(precision):
  """Sets TensorFlow's TF32 switch for a run in `precision`.

  TensorFlow enables TF32 by default (matmuls and convolutions on NVIDIA
  Ampere and newer GPUs then round their inputs to 10-bit mantissas). tfrd
  turns it off for every precision except 'tf32', so that 'float32' means
  float32, and 'bfloat16' and 'tf32_emulated' are not rounded a second time.
  On CPUs and older GPUs the switch has no effect.

  Args:
    precision: one of `PRECISIONS`.

  Returns:
    Whether TF32 execution is now enabled.

  Raises:
    ValueError: for an unknown precision.
  """
  _check_precision(precision)
  enable = precision == 'tf32'
  tf.config.experimental.enable_tensor_float_32_execution(enable)
  return enable


def tf32_execution_enabled():
  """TensorFlow's TF32 switch, as `set_tf32_execution` left it."""
  return bool(tf.config.experimental.tensor_float_32_execution_enabled())


def describe_precision(precision, method=None):
  """The `LoadedDecoder.transforms` entry of `apply_precision`."""
  return {'transform': 'precision', 'precision': precision,
          'method': _METHODS.get(method or precision, 'unchanged')}


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

  Differentiable nowhere (bit operations); `apply_precision` wraps it in
  straight-through gradients.

  Args:
    values: a float32 tensor.

  Returns:
    The rounded float32 tensor.

  Raises:
    ValueError: for another dtype.
  """
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


@tf.custom_gradient
def _tf32_inputs(values):
  """Forward: TF32 rounding of a matmul input. Backward: straight through."""
  return round_to_tf32(values), lambda upstream: upstream


@tf.custom_gradient
def _tf32_gradients(values):
  """Forward: identity. Backward: the gradient rounded to TF32.

  Placed on a matmul's output, it rounds the gradient that enters the
  backward matmul (gradient x kernel transposed), as TF32 hardware does.
  """

  def gradient(upstream):
    return round_to_tf32(tf.cast(upstream, tf.float32))

  return tf.identity(values), gradient


def apply_precision(decoder, precision):
  """A decoder computing in `precision`.

  Args:
    decoder: a `LoadedDecoder`, a Keras 3 or tf_keras model, or any callable
      latents [B, D] -> outputs.
    precision: one of `PRECISIONS`:

      - 'float32', 'tf32': `decoder` itself (TF32 is TensorFlow's global
        switch: `set_tf32_execution`).
      - 'bfloat16': a Keras functional or Sequential model (also inside a
        `LoadedDecoder`) is rebuilt with a 'bfloat16' dtype policy in every
        layer, its weights copied (rounded to bfloat16), its outputs cast to
        float32; it takes latents in its original input dtype and rounds them
        at its first layer. Any other callable (a SavedModel signature, a
        Python function, a `LoadedDecoder` already wrapped by output
        conventions) is called on latents cast to bfloat16 and its outputs
        cast to float32: only the callable's own dtype handling decides what
        runs in bfloat16 inside it (a SavedModel signature casts its input
        back to float32, so only the latents are rounded).
      - 'tf32_emulated': a Keras functional or Sequential model whose matmul
        layers are Dense, EinsumDense or (transposed) convolutions, the
        other layers being matmul-free (activations, reshapes, pooling,
        normalization, merges, ...), rebuilt so that each matmul rounds its
        inputs and kernel to TF32 and accumulates in float32 (the kernels
        are stored rounded; biases and activations stay float32). The
        backward pass rounds the gradient entering each transposed matmul
        as well. Nested functional models are rebuilt recursively.

  Returns:
    A decoder of the same kind: a `LoadedDecoder` (same latent size, output
    shape, input dtype and source, `transforms` ending with
    `describe_precision(...)`) for a `LoadedDecoder`, a Keras model for a
    Keras model, a callable for a callable. Outputs are float32 (or the
    original dtype, for 'float32' and 'tf32').

  Raises:
    ValueError: for an unknown precision; for 'tf32_emulated', a decoder
      that is not a Keras functional or Sequential model or holds a layer
      or operation whose matmuls it cannot round (a custom layer, Lambda,
      attention, a keras.ops.matmul, ...); for 'bfloat16', a subclassed
      Keras model (it cannot be rebuilt layer by layer), or a callable that
      fails on bfloat16 latents.
  """
  _check_precision(precision)
  if precision in ('float32', 'tf32'):
    return decoder
  if isinstance(decoder, LoadedDecoder):
    return _apply_to_loaded(decoder, precision)
  if _keras_module(decoder) is not None:
    return _rebuild_keras(decoder, precision)
  if precision == 'tf32_emulated':
    raise ValueError(
        f'tf32_emulated rounds the matmuls of Keras functional or '
        f'Sequential models; a {type(decoder).__name__} cannot be emulated '
        f'(its matmuls are out of reach).')
  return _CastingDecoder(decoder)


def _apply_to_loaded(decoder, precision):
  """`apply_precision` for a `LoadedDecoder`."""
  source = decoder.source or 'the decoder'
  method = precision
  if _keras_module(decoder.model) is not None:
    model = _rebuild_keras(decoder.model, precision, source=source)
  elif precision == 'tf32_emulated':
    raise ValueError(
        f'tf32_emulated rounds the matmuls of Keras functional or Sequential '
        f'models; {source} is a {decoder.format or "callable"} decoder'
        + (' wrapped by output conventions' if decoder.transforms else '') +
        ' whose matmuls are out of reach (apply the precision to the loaded '
        'Keras model, before any wrapper).')
  else:
    model, method = _CastingDecoder(decoder.model), 'bfloat16_cast'
  rebuilt = LoadedDecoder(
      model, decoder.latent_dim, decoder.output_shape, dtype=decoder.dtype,
      source=decoder.source, format=decoder.format,
      output_kind=decoder.output_kind,
      raw_output_shapes=decoder.raw_output_shapes,
      transforms=decoder.transforms + (describe_precision(precision,
                                                          method),))
  if method == 'bfloat16_cast':
    try:  # Fail now, not in the middle of a run.
      rebuilt(tf.zeros([2, decoder.latent_dim], decoder.dtype))
    except Exception as error:  # pylint: disable=broad-except
      first_line = str(error).strip().split('\n')[0]
      raise ValueError(
          f'{source} fails on bfloat16 latents ({type(error).__name__}: '
          f'{first_line}); it cannot run in bfloat16.') from None
  return rebuilt


class _CastingDecoder:
  """Calls a decoder on bfloat16 latents and returns float32 outputs.

  What runs in bfloat16 inside the call is up to the decoder: a Keras layer
  with a float32 policy or a SavedModel signature casts its input back to
  float32, so only the latents are rounded.
  """

  # Passes `training` on to a decoder that takes it (tfrd.decoders).
  takes_training = True

  def __init__(self, decoder):
    self.decoder = decoder
    self.latent_dim = getattr(decoder, 'latent_dim', None)
    self._decoder_takes_training = decoders.takes_training(decoder)

  def __call__(self, latents, training=False):
    latents = tf.cast(latents, tf.bfloat16)
    if self._decoder_takes_training:
      outputs = self.decoder(latents, training=training)
    else:
      outputs = self.decoder(latents)
    return tf.nest.map_structure(_to_float32, outputs)


def _to_float32(tensor):
  tensor = tf.convert_to_tensor(tensor)
  return tf.cast(tensor, tf.float32) if tensor.dtype.is_floating else tensor


def _keras_module(obj):
  """The Keras (the `keras` or `tf_keras` module) whose model `obj` is."""
  import sys  # pylint: disable=g-import-not-at-top
  for name in ('keras', 'tf_keras'):
    module = sys.modules.get(name)
    model_class = getattr(module, 'Model', None)
    if model_class is not None and isinstance(obj, model_class):
      return module
  return None


def _layer_class(module, name):
  return getattr(module.layers, name, None)


def _is_instance(obj, module, names):
  classes = tuple(c for c in (_layer_class(module, n) for n in names)
                  if isinstance(c, type))
  return bool(classes) and isinstance(obj, classes)


def _rebuild_keras(model, precision, source=None, cast_outputs=True):
  """A Keras functional/Sequential model rebuilt in `precision`.

  Raises:
    ValueError: as `apply_precision` says.
  """
  module = _keras_module(model)
  source = source or f'Keras model {model.name!r}'
  if precision == 'tf32_emulated':
    _check_tf32_operations(model, module, source)
  pairs = []

  def clone_layer(layer):
    if _keras_module(layer) is not None:  # A nested model: rebuilt whole.
      return _rebuild_keras(layer, precision, source=source,
                            cast_outputs=False)
    config = layer.get_config()
    if _is_instance(layer, module, ('InputLayer',)):
      return layer.__class__.from_config(config)
    if precision == 'bfloat16':
      config['dtype'] = 'bfloat16'
      layer_class = layer.__class__
    elif _is_instance(layer, module, _TF32_LAYERS):
      config['activation'] = 'linear'
      layer_class = _tf32_class(layer.__class__)
    else:
      layer_class = layer.__class__
    new_layer = layer_class.from_config(config)
    if precision == 'tf32_emulated' and _is_instance(layer, module,
                                                     _TF32_LAYERS):
      new_layer.tfrd_activation = layer.activation
    pairs.append((layer, new_layer))
    return new_layer

  try:
    clone = module.models.clone_model(model, clone_function=clone_layer)
  except _NotRebuildable:
    raise
  except Exception as error:  # pylint: disable=broad-except
    message = str(error).strip().splitlines()[0] if str(error).strip() else ''
    if isinstance(error, ValueError) and any(
        word in message.lower() for word in ('functional', 'subclass')):
      raise _NotRebuildable(
          f'{source} is a subclassed Keras model ({type(model).__name__}); '
          f'only functional and Sequential models can be rebuilt in '
          f'{precision}.') from None
    raise _NotRebuildable(f'{source} could not be rebuilt in {precision}: '
                          f'{type(error).__name__}: {message}') from None
  for old_layer, new_layer in pairs:
    weights = old_layer.get_weights()
    if new_layer.__class__ is not old_layer.__class__:  # TF32: round kernels.
      kernel = id(old_layer.kernel)
      weights = [round_to_tf32_numpy(value) if id(variable) == kernel
                 else value
                 for variable, value in zip(old_layer.weights, weights)]
    new_layer.set_weights(weights)
  if not (cast_outputs and precision == 'bfloat16'):
    return clone
  (input_tensor,) = model.inputs
  inputs = module.Input(shape=tuple(input_tensor.shape[1:]),
                        dtype=input_tensor.dtype)
  outputs = clone(inputs)
  cast = (module.ops.cast if hasattr(module, 'ops')
          else lambda tensor, dtype: tf.cast(tensor, dtype))
  outputs = tf.nest.map_structure(lambda tensor: cast(tensor, 'float32'),
                                  outputs)
  return module.Model(inputs, outputs, name=f'{model.name}_{precision}')


def _check_tf32_operations(model, module, source):
  """Raises ValueError for a layer or operation TF32 emulation can't cover."""
  operations = getattr(model, 'operations', None)
  if operations is None:  # tf_keras
    operations = model.layers
  for operation in operations:
    if _keras_module(operation) is not None:
      continue  # A nested model, checked when rebuilt.
    name = type(operation).__name__
    symbol = str(getattr(operation, 'symbol', '') or '').lower()
    if symbol:  # tf_keras TFOpLambda: tf.* calls in a functional model.
      if any(word in symbol.replace('.', ' ').replace('_', ' ').split()
             or symbol.endswith(word) for word in _MATMUL_OPERATIONS):
        raise _NotRebuildable(
            f'{source}: tf32_emulated cannot round the matmul of operation '
            f'{symbol!r}; it covers the Dense, EinsumDense and convolution '
            f'layers.')
      continue
    if _is_instance(operation, module, _TF32_LAYERS + _MATMUL_FREE_LAYERS):
      continue
    is_layer = isinstance(operation, module.layers.Layer)
    if is_layer or name.lower() in _MATMUL_OPERATIONS:
      raise _NotRebuildable(
          f'{source}: tf32_emulated cannot emulate '
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
      outputs = super(subclass, self).call(_tf32_inputs(inputs))
      outputs = _tf32_gradients(outputs)
      activation = getattr(self, 'tfrd_activation', None)
      return outputs if activation is None else activation(outputs)

    subclass = type(f'TF32Emulated{layer_class.__name__}', (layer_class,),
                    {'call': call, '__module__': __name__})
    _TF32_CLASSES[layer_class] = subclass
  return _TF32_CLASSES[layer_class]
