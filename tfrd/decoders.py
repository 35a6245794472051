"""How tfrd calls the models it is given: decoders, feature extractors, critics.

The contract between tfrd and the code that hands it a model (the user, the
loaders of `adapters`, the models of `zoo`) is small:

- A *decoder* is a callable mapping latents [B, D] to outputs [B, ...]. tfrd
  calls it as `decoder(latents)` or, when it takes a training flag (below),
  `decoder(latents, training=False)`. The same holds for the other models
  tfrd calls on the user's behalf (the feature extractor φ of
  `tfrd.DeepFeatureDistortion`, the critics of `zoo.entropic_gan`).
- Keras layers and models, Keras 3 and tf_keras (Keras 2) alike, are called
  with `training=False`: inference mode.
- Any other object may declare a class or instance attribute
  `takes_training = True` to be called with `training=False` as well (a
  wrapper around a Keras model, such as `adapters.keras_decoder.
  LoadedDecoder`, passes it on), or `takes_training = False` to be called
  with its inputs alone. A declaration wins over the Keras check.
- Everything else (plain functions, `tf.function`s, SavedModel signatures)
  is called with its inputs alone: passing `training=` to a callable that
  does not take it would be an error.

Why inference mode: AIS anneals a fixed target q_β(z|x) ∝ p(z) exp(-β
d(x, f(z))). A decoder in training mode is not one function f: dropout draws
new masks at every call, and batch normalization normalizes by the
statistics of the current batch of chains (and, in tf_keras, updates its
moving averages), so the target would change from one leapfrog step to the
next and the estimates would be of no model at all.

This module is the one place that rule lives; `tfrd.target`, `tfrd.bdmc`,
`tfrd.distortions` and `zoo.entropic_gan` call models through
`call_in_inference_mode`. It imports no Keras: if an object is a Keras layer,
its Keras is already loaded, so the Keras modules are looked up in
`sys.modules`, and tfrd works without Keras installed.
"""

import sys

__all__ = ['takes_training', 'call_in_inference_mode']

# The attribute by which an object declares whether it takes `training=`.
_DECLARATION = 'takes_training'
# Modules whose `layers.Layer` is the base of every Keras layer and model:
# Keras 3 (and a standalone Keras 2) is `keras`, Keras 2 for TF 2.16+ is
# `tf_keras`.
_KERAS_MODULES = ('keras', 'tf_keras')


def _is_keras_layer(obj):
  """Whether `obj` is a layer or model of a Keras that is already loaded."""
  for module_name in _KERAS_MODULES:
    module = sys.modules.get(module_name)
    layer_type = getattr(getattr(module, 'layers', None), 'Layer', None)
    if isinstance(layer_type, type) and isinstance(obj, layer_type):
      return True
  return False


def takes_training(model):
  """Whether tfrd calls `model` with `training=False`.

  Args:
    model: a decoder or other model tfrd calls (see the module docstring).

  Returns:
    The model's own `takes_training` attribute when it declares one (as a
    bool), else whether it is a Keras 3 or tf_keras layer or model.
  """
  declared = getattr(model, _DECLARATION, None)
  if declared is not None:
    return bool(declared)
  return _is_keras_layer(model)


def call_in_inference_mode(model, inputs):
  """Calls `model` on `inputs` as the contract of this module says.

  Args:
    model: a decoder, feature extractor or other model (any callable).
    inputs: what it is called on (latents [B, D] for a decoder).

  Returns:
    `model(inputs, training=False)` if `takes_training(model)`, else
    `model(inputs)`.
  """
  if takes_training(model):
    return model(inputs, training=False)
  return model(inputs)
