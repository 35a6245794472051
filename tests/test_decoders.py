"""The one rule for calling decoders: `tfrd.decoders` and who relies on it."""

import numpy as np
import pytest
import tensorflow as tf

import tfrd
from adapters import keras_decoder
from tfrd import decoders


class _Recorder:
  """A callable that records the keyword arguments of its calls."""

  def __init__(self, takes_training=None):
    if takes_training is not None:
      self.takes_training = takes_training
    self.calls = []

  def __call__(self, inputs, **kwargs):
    self.calls.append(kwargs)
    return inputs


def _dropout_model():
  """A Keras 3 identity whose training mode would zero half the values."""
  import keras  # pylint: disable=g-import-not-at-top
  return keras.Sequential([keras.Input((6,)), keras.layers.Dropout(0.5)])


def test_keras_models_are_called_in_inference_mode():
  model = _dropout_model()
  assert decoders.takes_training(model)
  assert decoders.takes_training(model.layers[-1])  # a layer, not a model
  latents = np.ones((4, 6), np.float32)
  np.testing.assert_array_equal(
      decoders.call_in_inference_mode(model, latents), latents)


def test_tf_keras_models_are_called_in_inference_mode():
  tf_keras = pytest.importorskip('tf_keras')
  model = tf_keras.Sequential([tf_keras.Input((6,)),
                               tf_keras.layers.Dropout(0.5)])
  assert decoders.takes_training(model)
  latents = np.ones((4, 6), np.float32)
  np.testing.assert_array_equal(
      decoders.call_in_inference_mode(model, latents), latents)


def test_plain_callables_get_their_inputs_alone():
  for function in (tf.identity, lambda latents: latents,
                   tf.function(lambda latents: latents)):
    assert not decoders.takes_training(function)
    assert decoders.call_in_inference_mode(function, 3.0) == 3.0
  recorder = _Recorder()
  decoders.call_in_inference_mode(recorder, 1.0)
  assert recorder.calls == [{}]


def test_a_declaration_wins():
  declared = _Recorder(takes_training=True)
  assert decoders.takes_training(declared)
  decoders.call_in_inference_mode(declared, 1.0)
  assert declared.calls == [{'training': False}]
  refused = _dropout_model()
  refused.takes_training = False  # A Keras model that opts out.
  assert not decoders.takes_training(refused)


def test_loaded_decoder_declares_the_interface():
  function = keras_decoder.LoadedDecoder(lambda latents: 2 * latents, 3, (3,),
                                         format='callable')
  assert not hasattr(function, 'layers')
  assert decoders.takes_training(function)
  assert decoders.call_in_inference_mode(function, 1.5) == 3.0
  inner = _Recorder(takes_training=True)
  keras_decoder.LoadedDecoder(inner, 3, (3,))(1.0, training=False)
  assert inner.calls == [{'training': False}]
  model = keras_decoder.describe_decoder(_dropout_model())
  latents = np.ones((4, 6), np.float32)
  np.testing.assert_array_equal(
      decoders.call_in_inference_mode(model, latents), latents)


def test_the_target_calls_decoders_by_the_rule():
  recorder = _Recorder(takes_training=True)
  target = tfrd.AnnealedTarget(recorder, tfrd.standard_normal_prior(2),
                               tfrd.SquaredError(), np.zeros((1, 2)), 1)
  target.distortion_of(tf.zeros([1, 2], tf.float64))
  assert recorder.calls == [{'training': False}]
  # Dropout off: the Keras decoder is one function, so the same latents give
  # the same distortion (training mode would zero a random half of them).
  model = _dropout_model()
  target = tfrd.AnnealedTarget(model, tfrd.standard_normal_prior(6),
                               tfrd.SquaredError(), np.zeros((1, 6)), 1)
  latents = tf.ones([1, 6], tf.float64)
  np.testing.assert_allclose(target.distortion_of(latents).numpy(), [6.0])
