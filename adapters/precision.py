"""Decoders computing in reduced precision: bfloat16, and the TF32 switch.

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
bits, 8 times finer than bfloat16) did not measurably hurt there; the study
emulates it on a CPU itself (`benchmarks/tf32_emulation.py`), as a
measurement, not as a precision the apps offer.

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
  float32. 'float32' and 'tf32' leave the decoder alone: TF32 is
  TensorFlow's global switch, `set_tf32_execution`.
- `set_tf32_execution(precision)`: that switch, on for 'tf32' only.
"""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from adapters.keras_decoder import LoadedDecoder  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfrd import decoders  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['PRECISIONS', 'apply_precision', 'set_tf32_execution',
           'tf32_execution_enabled', 'describe_precision', 'NotRebuildable',
           'rebuild_keras_model', 'keras_module', 'is_layer_instance']

# 'float32': full float32 (TF32 off). 'tf32': float32 decoder, TensorFlow's
# TF32 switch on (has an effect on NVIDIA Ampere+ GPUs only). 'bfloat16': the
# decoder rebuilt in bfloat16.
PRECISIONS = ('float32', 'tf32', 'bfloat16')

_METHODS = {
    'bfloat16': ("Keras model rebuilt with a 'bfloat16' dtype policy in every "
                 'layer (weights rounded to bfloat16, all arithmetic in '
                 'bfloat16); outputs cast to float32'),
    'bfloat16_cast': ('latents cast to bfloat16 before the call, outputs to '
                      'float32 after it; what runs in bfloat16 inside is up '
                      "to the callable's own dtype handling"),
}


class NotRebuildable(ValueError):
  """A model that cannot be rebuilt layer by layer; the message says why."""


def _check_precision(precision):
  if precision not in PRECISIONS:
    raise ValueError(f'Unknown decoder precision {precision!r}; expected one '
                     f'of {", ".join(PRECISIONS)}.')


def set_tf32_execution(precision):
  """Sets TensorFlow's TF32 switch for a run in `precision`.

  TensorFlow enables TF32 by default (matmuls and convolutions on NVIDIA
  Ampere and newer GPUs then round their inputs to 10-bit mantissas). tfrd
  turns it off for every precision except 'tf32', so that 'float32' means
  float32 and 'bfloat16' is not rounded a second time.
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

  Returns:
    A decoder of the same kind: a `LoadedDecoder` (same latent size, output
    shape, input dtype and source, `transforms` ending with
    `describe_precision(...)`) for a `LoadedDecoder`, a Keras model for a
    Keras model, a callable for a callable. Outputs are float32 (or the
    original dtype, for 'float32' and 'tf32').

  Raises:
    ValueError: for an unknown precision; for 'bfloat16', a subclassed Keras
      model (it cannot be rebuilt layer by layer), or a callable that fails
      on bfloat16 latents.
  """
  _check_precision(precision)
  if precision in ('float32', 'tf32'):
    return decoder
  if isinstance(decoder, LoadedDecoder):
    return _apply_to_loaded(decoder, precision)
  if keras_module(decoder) is not None:
    return _rebuild_keras(decoder, precision)
  return _CastingDecoder(decoder)


def _apply_to_loaded(decoder, precision):
  """`apply_precision` for a `LoadedDecoder`."""
  source = decoder.source or 'the decoder'
  method = precision
  if keras_module(decoder.model) is not None:
    model = _rebuild_keras(decoder.model, precision, source=source)
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


def keras_module(obj):
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


def is_layer_instance(obj, module, names):
  classes = tuple(c for c in (_layer_class(module, n) for n in names)
                  if isinstance(c, type))
  return bool(classes) and isinstance(obj, classes)


def rebuild_keras_model(model, new_layer_for, label, source=None):
  """A Keras functional/Sequential model cloned layer by layer.

  The one rebuild of a decoder's layers, for its precision here and for the
  TF32 emulation of `benchmarks/tf32_emulation.py`. Input layers are
  copied; nested models go to `new_layer_for`, which rebuilds them (by
  calling this again) and whose weights are their own business.

  Args:
    model: a Keras 3 or tf_keras model.
    new_layer_for: callable (layer, its config, the Keras module) -> the new
      layer, built from the config; for a nested model the config is None
      (the callable rebuilds it whole).
    label: what the model is rebuilt in, for messages (e.g. 'bfloat16').
    source: how the model is named in messages.

  Returns:
    (clone, [(old layer, new layer), ...]): the rebuilt model, and the
    layers whose weights the caller copies (or transforms) into the new
    ones, once built.

  Raises:
    NotRebuildable: for a subclassed model or a layer that cannot be
      rebuilt; the message (one line) says which.
  """
  module = keras_module(model)
  source = source or f'Keras model {model.name!r}'
  pairs = []

  def clone_layer(layer):
    if keras_module(layer) is not None:  # A nested model.
      return new_layer_for(layer, None, module)
    config = layer.get_config()
    if is_layer_instance(layer, module, ('InputLayer',)):
      return layer.__class__.from_config(config)
    new_layer = new_layer_for(layer, config, module)
    pairs.append((layer, new_layer))
    return new_layer

  try:
    clone = module.models.clone_model(model, clone_function=clone_layer)
  except NotRebuildable:
    raise
  except Exception as error:  # pylint: disable=broad-except
    message = str(error).strip().splitlines()[0] if str(error).strip() else ''
    if isinstance(error, ValueError) and any(
        word in message.lower() for word in ('functional', 'subclass')):
      raise NotRebuildable(
          f'{source} is a subclassed Keras model ({type(model).__name__}); '
          f'only functional and Sequential models can be rebuilt in '
          f'{label}.') from None
    raise NotRebuildable(f'{source} could not be rebuilt in {label}: '
                         f'{type(error).__name__}: {message}') from None
  return clone, pairs


def _rebuild_keras(model, precision, source=None, cast_outputs=True):
  """A Keras functional/Sequential model rebuilt in `precision`.

  Raises:
    ValueError: as `apply_precision` says.
  """
  module = keras_module(model)
  source = source or f'Keras model {model.name!r}'

  def new_layer_for(layer, config, unused_module):
    if keras_module(layer) is not None:  # A nested model: rebuilt whole.
      return _rebuild_keras(layer, precision, source=source,
                            cast_outputs=False)
    config['dtype'] = precision
    return layer.__class__.from_config(config)

  clone, pairs = rebuild_keras_model(model, new_layer_for, precision, source)
  for old_layer, new_layer in pairs:
    new_layer.set_weights(old_layer.get_weights())
  if not cast_outputs:
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
