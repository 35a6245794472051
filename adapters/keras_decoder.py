"""Keras 3 `.keras` decoders: a latent vector in, an image out."""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['ModelError', 'LoadedDecoder', 'load_keras_decoder',
           'describe_decoder', 'match_data_to_decoder']


class ModelError(ValueError):
  """A model could not be used as a decoder; the message says why."""


class LoadedDecoder:
  """A decoder with what the estimator needs to know about it.

  Attributes:
    model: the callable decoder.
    latent_dim: size D of the latent vector.
    output_shape: per-example output shape (without the batch axis).
    dtype: the decoder's input dtype.
    source: where it came from (for `curve.json`).
  """

  def __init__(self, model, latent_dim, output_shape, dtype='float32',
               source=None):
    self.model = model
    self.latent_dim = int(latent_dim)
    self.output_shape = tuple(int(d) for d in output_shape)
    self.dtype = dtype
    self.source = source

  def __call__(self, latents, training=False):
    return self.model(latents, training=training)

  @property
  def layers(self):  # Lets tfrd call it in inference mode like a Keras model.
    return getattr(self.model, 'layers', [])


def describe_decoder(model, source=None):
  """Checks that a Keras model maps one latent vector to one output.

  Raises:
    ModelError: for several inputs or outputs, or an unknown latent size.
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
  if len(outputs) != 1:
    raise ModelError(
        f'{source or "The model"} returns {len(outputs)} outputs; a decoder '
        f'must return one image tensor.')
  output_shape = tuple(outputs[0].shape)[1:]
  if any(d is None for d in output_shape):
    raise ModelError(
        f'{source or "The model"} has output shape {output_shape} with an '
        f'unknown size; its output must have a fixed shape.')
  dtype = str(inputs[0].dtype).replace("<dtype: '", '').replace("'>", '')
  return LoadedDecoder(model, input_shape[1], output_shape,
                       dtype=dtype if dtype.startswith('float') else 'float32',
                       source=source)


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
  return describe_decoder(model, source=path)


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
