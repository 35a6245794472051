"""The networks of the zoo: decoders, encoders and discriminators.

Decoders are what `apps.rd_curve` evaluates, so they are built from Keras's
own layers only: a `.keras` file of one loads with `keras.saving.load_model`
in any program, with nothing of this package imported. Each maps a latent
vector [B, D] to an image [B, H, W, C] (NHWC) in [0, 1] (sigmoid output).

- MLP decoders for 28×28×1 MNIST follow appendix D.1 of Huang et al. (2020):
  'shallow' is one hidden layer of 1024 units, 'deep' three; any code size.
- DCGAN-style convolutional generators (Radford et al., 2015) for 32×32×3
  images: a dense projection to 4×4, then three stride-2 transposed
  convolutions to 8, 16 and 32 pixels.

Encoders and discriminators mirror them. They are only ever checkpointed with
the training state, never exported, so they may use any layer (spectral
normalization, for instance).
"""

import os

os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from zoo import spectral_norm as spectral_norm_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = [
    'DEPTHS',
    'ARCHITECTURES',
    'MNIST_SHAPE',
    'CONV_SHAPE',
    'ArchitectureError',
    'num_hidden_layers',
    'resolve_architecture',
    'mlp_decoder',
    'dcgan_generator',
    'decoder',
    'encoder',
    'discriminator',
    'latent_discriminator',
]

# Number of hidden layers of the MLPs, per depth name (appendix D.1).
DEPTHS = {'shallow': 1, 'deep': 3}
ARCHITECTURES = ('mlp', 'dcgan')
MNIST_SHAPE = (28, 28, 1)
CONV_SHAPE = (32, 32, 3)
DEFAULT_MLP_WIDTH = 1024
DEFAULT_CONV_WIDTH = 64
# LeakyReLU slope of every discriminator and encoder (DCGAN's choice).
_LEAKY_SLOPE = 0.2
# The DCGAN generator's batch-norm momentum: lower than Keras's 0.99 so the
# moving statistics (used at evaluation, where tfrd calls the decoder in
# inference mode) track the training statistics within a short run.
_BATCH_NORM_MOMENTUM = 0.9


class ArchitectureError(ValueError):
  """An architecture cannot be built as asked; the message says why."""


def num_hidden_layers(depth):
  """Hidden layers of an MLP of depth 'shallow' (1) or 'deep' (3).

  Raises:
    ArchitectureError: for another depth.
  """
  try:
    return DEPTHS[depth]
  except (KeyError, TypeError):
    raise ArchitectureError(
        f'depth must be one of {", ".join(DEPTHS)}, got {depth!r}.') from None


def resolve_architecture(architecture, image_shape):
  """The architecture to use for images of `image_shape`.

  Args:
    architecture: 'mlp', 'dcgan' or 'auto' (MLP for everything but 32×32×3
      images, which get the DCGAN networks).
    image_shape: (H, W, C) of the images.

  Returns:
    'mlp' or 'dcgan'.

  Raises:
    ArchitectureError: for an unknown name, or 'dcgan' with images that are
      not 32×32×C.
  """
  image_shape = tuple(int(d) for d in image_shape)
  if architecture == 'auto':
    return 'dcgan' if image_shape == CONV_SHAPE else 'mlp'
  if architecture not in ARCHITECTURES:
    raise ArchitectureError(
        f"architecture must be 'auto', 'mlp' or 'dcgan', got "
        f'{architecture!r}.')
  if architecture == 'dcgan' and image_shape[:2] != CONV_SHAPE[:2]:
    raise ArchitectureError(
        f'The DCGAN networks are for 32×32 images; these are '
        f'{image_shape[0]}×{image_shape[1]}. Use the MLP architecture.')
  return architecture


def _check_positive(value, name):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
      value < 1):
    raise ArchitectureError(f'{name} must be a positive integer, got '
                            f'{value!r}.')
  return int(value)


def _check_image_shape(image_shape):
  shape = tuple(image_shape)
  if len(shape) != 3:
    raise ArchitectureError(f'image_shape must be (height, width, channels), '
                            f'got {image_shape!r}.')
  for size in shape:
    _check_positive(size, 'Every image dimension')
  return tuple(int(d) for d in shape)


def mlp_decoder(latent_dim, image_shape=MNIST_SHAPE, depth='shallow',
                width=DEFAULT_MLP_WIDTH, name='decoder'):
  """The MLP decoder of appendix D.1: latents [B, D] -> images in [0, 1].

  Args:
    latent_dim: code size D.
    image_shape: (H, W, C) of the output.
    depth: 'shallow' (one hidden layer) or 'deep' (three).
    width: units per hidden layer (1024 in the paper).
    name: the model's name.

  Returns:
    A `keras.Sequential` of built-in layers.
  """
  latent_dim = _check_positive(latent_dim, 'latent_dim')
  width = _check_positive(width, 'width')
  image_shape = _check_image_shape(image_shape)
  layers = [keras.Input((latent_dim,), name='latent')]
  for index in range(num_hidden_layers(depth)):
    layers.append(keras.layers.Dense(width, activation='relu',
                                     name=f'hidden_{index}'))
  layers += [
      keras.layers.Dense(int(np.prod(image_shape)), activation='sigmoid',
                         name='pixels'),
      keras.layers.Reshape(image_shape, name='image'),
  ]
  return keras.Sequential(layers, name=name)


def dcgan_generator(latent_dim, image_shape=CONV_SHAPE,
                    width=DEFAULT_CONV_WIDTH, name='decoder'):
  """A DCGAN generator: latents [B, D] -> [B, 32, 32, C] images in [0, 1].

  Dense projection to 4×4×4w, then transposed convolutions (kernel 4,
  stride 2) to 8×8×2w, 16×16×w and 32×32×C, with batch normalization and
  ReLU between them (Radford et al., 2015) and a sigmoid at the end.

  Args:
    latent_dim: code size D.
    image_shape: (32, 32, C).
    width: base number of filters w (64 in DCGAN).
    name: the model's name.

  Returns:
    A `keras.Sequential` of built-in layers.
  """
  latent_dim = _check_positive(latent_dim, 'latent_dim')
  width = _check_positive(width, 'width')
  image_shape = _check_image_shape(image_shape)
  resolve_architecture('dcgan', image_shape)

  def batch_norm(label):
    return keras.layers.BatchNormalization(momentum=_BATCH_NORM_MOMENTUM,
                                           name=f'{label}_norm')

  return keras.Sequential([
      keras.Input((latent_dim,), name='latent'),
      keras.layers.Dense(4 * 4 * 4 * width, use_bias=False, name='project'),
      batch_norm('project'),
      keras.layers.ReLU(name='project_relu'),
      keras.layers.Reshape((4, 4, 4 * width), name='to_4x4'),
      keras.layers.Conv2DTranspose(2 * width, 4, strides=2, padding='same',
                                   use_bias=False, name='up_8x8'),
      batch_norm('up_8x8'),
      keras.layers.ReLU(name='up_8x8_relu'),
      keras.layers.Conv2DTranspose(width, 4, strides=2, padding='same',
                                   use_bias=False, name='up_16x16'),
      batch_norm('up_16x16'),
      keras.layers.ReLU(name='up_16x16_relu'),
      keras.layers.Conv2DTranspose(image_shape[-1], 4, strides=2,
                                   padding='same', activation='sigmoid',
                                   name='image'),
  ], name=name)


def decoder(architecture, latent_dim, image_shape, depth='shallow',
            width=None, name='decoder'):
  """`mlp_decoder` or `dcgan_generator`, with its default width if None."""
  if architecture == 'dcgan':
    return dcgan_generator(latent_dim, image_shape,
                           width or DEFAULT_CONV_WIDTH, name=name)
  return mlp_decoder(latent_dim, image_shape, depth,
                     width or DEFAULT_MLP_WIDTH, name=name)


def _dense(units, spectral_norm, name):
  if spectral_norm:
    # Divides the kernel by its largest singular value (power iteration), so
    # the layer is (about) 1-Lipschitz; see zoo.spectral_norm.
    return spectral_norm_lib.SpectralNormDense(units, name=name)
  return keras.layers.Dense(units, name=name)


def _conv(filters, spectral_norm, name):
  if spectral_norm:
    return spectral_norm_lib.SpectralNormConv2D(filters, 4, strides=2,
                                                padding='same', name=name)
  return keras.layers.Conv2D(filters, 4, strides=2, padding='same', name=name)


def _image_body(architecture, image_shape, depth, width, spectral_norm):
  """Layers shared by encoders and discriminators: image -> features."""
  # Data and samples are in [0, 1]; the networks see them centred in
  # [-1, 1], as DCGAN's do.
  layers = [keras.Input(image_shape, name='image'),
            keras.layers.Rescaling(2.0, offset=-1.0, name='centre')]
  if architecture == 'dcgan':
    width = width or DEFAULT_CONV_WIDTH
    for index, filters in enumerate((width, 2 * width, 4 * width)):
      layers += [_conv(filters, spectral_norm, f'conv_{index}'),
                 keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f'conv_{index}_act')]
    layers.append(keras.layers.Flatten(name='flatten'))
    return layers
  width = width or DEFAULT_MLP_WIDTH
  layers.append(keras.layers.Flatten(name='flatten'))
  for index in range(num_hidden_layers(depth)):
    layers += [_dense(width, spectral_norm, f'hidden_{index}'),
               keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f'hidden_{index}_act')]
  return layers


def encoder(architecture, image_shape, num_outputs, depth='shallow',
            width=None, name='encoder'):
  """Images [B, H, W, C] -> [B, num_outputs] (a code, or mean and log-variance).

  The mirror image of the decoder: an MLP of the same depth and width, or
  DCGAN's discriminator body for 32×32 images.
  """
  image_shape = _check_image_shape(image_shape)
  num_outputs = _check_positive(num_outputs, 'num_outputs')
  layers = _image_body(architecture, image_shape, depth, width, False)
  layers.append(keras.layers.Dense(num_outputs, name='code'))
  return keras.Sequential(layers, name=name)


def discriminator(architecture, image_shape, depth='shallow', width=None,
                  spectral_norm=False, num_outputs=1, name='discriminator'):
  """Images [B, H, W, C] -> one unbounded score (logit or critic value) each.

  No batch normalization: it would couple the examples of a batch, which
  the gradient penalty of WGAN-GP and the per-pair terms of the entropic
  GAN assume away.

  Args:
    architecture: 'mlp' or 'dcgan'.
    image_shape: (H, W, C).
    depth: MLP depth name.
    width: hidden units (MLP) or base filters (DCGAN); the default if None.
    spectral_norm: wrap every Dense/Conv2D in spectral normalization.
    num_outputs: scores per image.
    name: the model's name.

  Returns:
    A `keras.Sequential` mapping images to [B, num_outputs].
  """
  image_shape = _check_image_shape(image_shape)
  layers = _image_body(architecture, image_shape, depth, width, spectral_norm)
  layers.append(_dense(num_outputs, spectral_norm, 'score'))
  return keras.Sequential(layers, name=name)


def latent_discriminator(latent_dim, width=512, num_hidden=2,
                         name='latent_discriminator'):
  """Codes [B, D] -> one logit each: the AAE / WAE-GAN discriminator on z."""
  latent_dim = _check_positive(latent_dim, 'latent_dim')
  width = _check_positive(width, 'width')
  layers = [keras.Input((latent_dim,), name='code')]
  for index in range(num_hidden):
    layers += [keras.layers.Dense(width, name=f'hidden_{index}'),
               keras.layers.LeakyReLU(_LEAKY_SLOPE, name=f'hidden_{index}_act')]
  layers.append(keras.layers.Dense(1, name='logit'))
  return keras.Sequential(layers, name=name)
