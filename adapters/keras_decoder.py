"""Keras decoders: a latent vector in, an image out.

`LoadedDecoder` is what every loader in `adapters.models` returns.
"""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from tfrd import decoders  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['ModelError', 'LoadedDecoder', 'load_keras_decoder',
           'describe_decoder', 'match_data_to_decoder']


class ModelError(ValueError):
  """A model could not be used as a decoder; the message says why."""


class LoadedDecoder:
  """A decoder with what the estimator needs to know about it.

  Calling it maps latents [B, D] to outputs [B, ...]. It is a decoder in the
  sense of `tfrd.decoders`, and declares `takes_training = True`: tfrd calls
  it with `training=False`, which it passes on to a model that takes a
  training flag (a Keras model) and drops for one that does not (a function,
  a SavedModel signature).

  Attributes:
    model: the callable decoder (a Keras model or a function).
    latent_dim: size D of the latent vector.
    output_shape: per-example shape of the image the outputs are compared
      with (without the batch axis). For `output_kind='mean_logvar'` this is
      the mean's shape, although the call returns mean and log-variance
      concatenated.
    dtype: the decoder's input dtype.
    source: where it came from (for `curve.json`).
    format: how it was loaded ('keras3', 'tf_keras_savedmodel',
      'tf_keras_h5', 'tf_keras_keras', 'saved_model', 'python',
      'keras3_object', 'tf_keras_object', 'callable').
    output_kind: 'image' (pixel values), 'logits' (raw Bernoulli logits) or
      'mean_logvar' ([B, 2·E]: flattened mean, then flattened log-variance).
    raw_output_shapes: per-example shapes of everything a call returns (one
      entry per output tensor).
    transforms: tuple of JSON-serializable dicts describing the wrappers
      applied on top of the loaded model (conventions, blur), in order.
  """

  # The tfrd.decoders interface: tfrd calls it with `training=False`.
  takes_training = True

  def __init__(self, model, latent_dim, output_shape, dtype='float32',
               source=None, format=None,  # pylint: disable=redefined-builtin
               output_kind='image', raw_output_shapes=None, transforms=()):
    self.model = model
    self.latent_dim = int(latent_dim)
    self.output_shape = tuple(int(d) for d in output_shape)
    self.dtype = dtype
    self.source = source
    self.format = format
    self.output_kind = output_kind
    self.raw_output_shapes = tuple(
        tuple(int(d) for d in shape)
        for shape in (raw_output_shapes or [self.output_shape]))
    self.transforms = tuple(transforms)
    # Only Keras models take `training`; signatures and plain functions don't.
    # Decided by tfrd's rule, so that the wrapper and tfrd never disagree.
    self._model_takes_training = decoders.takes_training(model)

  def __call__(self, latents, training=False):
    if self._model_takes_training:
      return self.model(latents, training=training)
    return self.model(latents)

  def describe(self):
    """JSON-serializable summary for `curve.json`'s config."""
    return {
        'source': None if self.source is None else str(self.source),
        'format': self.format,
        'latent_dim': self.latent_dim,
        'output_shape': list(self.output_shape),
        'output_kind': self.output_kind,
        'dtype': str(self.dtype),
        'transforms': list(self.transforms),
    }

  def __repr__(self):
    return (f'LoadedDecoder(source={self.source!r}, format={self.format!r}, '
            f'latent_dim={self.latent_dim}, output_shape={self.output_shape}, '
            f'output_kind={self.output_kind!r})')


def _dtype_name(dtype):
  """'float32' from a Keras 3 dtype string or a tf.DType."""
  name = getattr(dtype, 'name', None) or str(dtype)
  return name.replace("<dtype: '", '').replace("'>", '')


def describe_decoder(model, source=None,
                     format='keras3',  # pylint: disable=redefined-builtin
                     allow_multiple_outputs=False):
  """Checks that a Keras model maps one latent vector to one output.

  Works for Keras 3 and tf_keras (Keras 2) models alike.

  Args:
    model: a built Keras model.
    source: where it came from, for messages and `curve.json`.
    format: the `LoadedDecoder.format` to record.
    allow_multiple_outputs: accept several outputs (a decoder returning mean
      and log-variance); `output_shape` is then the first one's.

  Returns:
    A `LoadedDecoder`.

  Raises:
    ModelError: for several inputs or (unless allowed) outputs, or an unknown
      latent size.
  """
  inputs = model.inputs if getattr(model, 'inputs', None) else None
  if inputs is None:
    raise ModelError(
        f'{source or "The model"} has no defined input (a subclassed model '
        f'that was never built?). Save a functional or Sequential model with '
        f'an explicit keras.Input(shape=(latent_dim,)).')
  if len(inputs) != 1:
    raise ModelError(
        f'{source or "The model"} takes {len(inputs)} inputs; a decoder must '
        f'take exactly one latent vector.')
  input_shape = tuple(inputs[0].shape)
  if len(input_shape) != 2 or input_shape[1] is None:
    raise ModelError(
        f'{source or "The model"} has input shape {input_shape}; expected '
        f'(batch, latent_dim) with a known latent_dim.')
  outputs = model.outputs
  if len(outputs) != 1 and not (allow_multiple_outputs and outputs):
    raise ModelError(
        f'{source or "The model"} returns {len(outputs)} outputs; a decoder '
        f'must return one image tensor (or, with output kind mean_logvar, '
        f'a mean and a log-variance).')
  output_shapes = [tuple(output.shape)[1:] for output in outputs]
  for output_shape in output_shapes:
    if any(d is None for d in output_shape):
      raise ModelError(
          f'{source or "The model"} has output shape {output_shape} with an '
          f'unknown size; its output must have a fixed shape.')
  dtype = _dtype_name(inputs[0].dtype)
  return LoadedDecoder(model, input_shape[1], output_shapes[0],
                       dtype=dtype if dtype.startswith('float') else 'float32',
                       source=source, format=format,
                       raw_output_shapes=output_shapes)


def load_keras_decoder(path):
  """Loads a decoder saved with `model.save('decoder.keras')`.

  Args:
    path: a `.keras` file.

  Returns:
    A `LoadedDecoder`.

  Raises:
    ModelError: if the file is missing, not a Keras 3 archive, or the model
      is not a single-input, single-output decoder.
  """
  if not os.path.exists(path):
    raise ModelError(f'Model file not found: {path}')
  if os.path.isdir(path) or not path.endswith('.keras'):
    raise ModelError(
        f'{path} is not a .keras file. Save your decoder with '
        f"model.save('decoder.keras') (Keras 3).")
  import keras  # pylint: disable=g-import-not-at-top
  try:
    model = keras.saving.load_model(path, compile=False)
  except Exception as error:  # pylint: disable=broad-except
    first_line = str(error).strip().split('\n')[0]
    raise ModelError(f'Could not load {path} as a Keras model: '
                     f'{type(error).__name__}: {first_line}') from None
  return describe_decoder(model, source=path, format='keras3')


def match_data_to_decoder(data, output_shape):
  """Brings data [N, ...] to the decoder's per-example output shape.

  Data whose per-example shape differs but has the same number of elements
  (MNIST's 28×28×1 against a decoder with 784 outputs) is reshaped, element
  order kept; anything else is an error.

  Returns:
    (data reshaped to [N, *output_shape], whether it was reshaped).

  Raises:
    ModelError: if the sizes differ.
  """
  data = np.asarray(data)
  example_shape = tuple(data.shape[1:])
  output_shape = tuple(output_shape)
  if example_shape == output_shape:
    return data, False
  if int(np.prod(example_shape)) == int(np.prod(output_shape)):
    return data.reshape((data.shape[0],) + output_shape), True
  raise ModelError(
      f'Data shape {example_shape} (per image) does not match the decoder '
      f'output shape {output_shape}: {int(np.prod(example_shape))} vs '
      f'{int(np.prod(output_shape))} values per image.')
