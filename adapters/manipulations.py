"""Decoder manipulations: the Gaussian blur of Huang et al. (2020), §6.2.

Blurring the decoder's output ("adding a Gaussian blur kernel after the
output layer") damages the observation model rather than the prior: the
decoder can no longer produce sharp images, so the curve loses at high
rates (its distortion floor rises), while the low-rate end is unharmed or
even improves.
"""

import math

import numpy as np
import tensorflow as tf

from adapters.keras_decoder import LoadedDecoder
from adapters.keras_decoder import ModelError

__all__ = ['PADDINGS', 'gaussian_kernel_1d', 'blur_images', 'gaussian_blur']

PADDINGS = ('reflect', 'zero')


def gaussian_kernel_1d(sigma):
  """Normalized 1-D Gaussian weights on the integers -r..r, r = ceil(3σ).

  Args:
    sigma: standard deviation in pixels (> 0).

  Returns:
    float64 array of 2r + 1 weights summing to 1.

  Raises:
    ValueError: if sigma is not positive and finite.
  """
  sigma = float(sigma)
  if not (math.isfinite(sigma) and sigma > 0):
    raise ValueError(f'The blur sigma must be positive, got {sigma!r}.')
  radius = int(math.ceil(3.0 * sigma))
  offsets = np.arange(-radius, radius + 1, dtype=np.float64)
  weights = np.exp(-offsets**2 / (2.0 * sigma**2))
  return weights / weights.sum()


def blur_images(images, sigma, padding='reflect'):
  """Blurs NHWC images channel by channel with a separable Gaussian.

  Two depthwise convolutions (vertical, then horizontal) with the kernel of
  `gaussian_kernel_1d(sigma)`; the output has the input's size.

  Args:
    images: [B, H, W, C] tensor.
    sigma: standard deviation in pixels (> 0).
    padding: 'reflect': the image is mirrored about its edge pixels without
      repeating them (NumPy's `np.pad(mode='reflect')`, TF's 'REFLECT'), so
      constant images stay constant and no mass leaks out at the borders;
      needs a kernel radius ceil(3σ) smaller than the image's height and
      width. 'zero': zeros outside the image ('SAME' convolution), which
      darkens the borders.

  Returns:
    The blurred images, same shape and dtype.

  Raises:
    ValueError: for an unknown padding, or a reflect radius that does not
      fit in the image.
  """
  if padding not in PADDINGS:
    raise ValueError(f'padding must be one of {", ".join(PADDINGS)}; got '
                     f'{padding!r}.')
  weights = gaussian_kernel_1d(sigma)
  radius = (weights.size - 1) // 2
  images = tf.convert_to_tensor(images)
  height, width, channels = (int(d) for d in images.shape[1:])
  if padding == 'reflect' and radius >= min(height, width):
    raise ValueError(
        f'A blur of sigma {sigma:g} has radius {radius}, which does not fit '
        f'in a {height}×{width} image with reflect padding; use a smaller '
        f'sigma or zero padding.')
  kernel = tf.constant(weights, images.dtype)
  vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
  horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
  strides = [1, 1, 1, 1]
  if padding == 'zero':
    images = tf.nn.depthwise_conv2d(images, vertical, strides, 'SAME')
    return tf.nn.depthwise_conv2d(images, horizontal, strides, 'SAME')
  # A gather with fixed indices rather than tf.pad(mode='REFLECT'): same
  # values, but its gradient is a cheap scatter where MirrorPadGrad made the
  # whole AIS loop about twice as slow on CPU.
  images = tf.gather(images, _reflect_indices(height, radius), axis=1)
  images = tf.nn.depthwise_conv2d(images, vertical, strides, 'VALID')
  images = tf.gather(images, _reflect_indices(width, radius), axis=2)
  return tf.nn.depthwise_conv2d(images, horizontal, strides, 'VALID')


def _reflect_indices(size, radius):
  """Indices of a length-`size` axis padded by `radius` with 'reflect'."""
  indices = np.abs(np.arange(-radius, size + radius))
  return np.where(indices >= size, 2 * (size - 1) - indices, indices)


def gaussian_blur(decoder, sigma, image_shape=None, padding='reflect'):
  """A decoder whose outputs are blurred with a Gaussian of width `sigma`.

  Apply it after `adapters.conventions.apply_output_convention`, so that the
  outputs are NHWC images in data space. For a 'mean_logvar' decoder only the
  mean is blurred.

  Args:
    decoder: a `LoadedDecoder`.
    sigma: standard deviation in pixels; 0 returns the decoder unchanged
      (same model, an extra `transforms` entry).
    image_shape: per-example (H, W, C) or (H, W) image shape of the outputs;
      the decoder's `output_shape` by default (must then be an image, not a
      flat vector).
    padding: 'reflect' (default) or 'zero'; see `blur_images`.

  Returns:
    A `LoadedDecoder` with the same latent size, output shape and kind.

  Raises:
    ValueError: for a negative sigma or an unknown padding.
    ModelError: if the outputs are not images of `image_shape`, or are raw
      logits (blur the probabilities: apply the convention with a sigmoid).
  """
  sigma = float(sigma)
  if not (math.isfinite(sigma) and sigma >= 0):
    raise ValueError(f'The blur sigma must be >= 0, got {sigma!r}.')
  if padding not in PADDINGS:
    raise ValueError(f'padding must be one of {", ".join(PADDINGS)}; got '
                     f'{padding!r}.')
  source = decoder.source or 'The decoder'
  if decoder.output_kind == 'logits':
    raise ModelError(f'{source} returns raw logits; blur its probabilities '
                     f'instead (output convention without keep_logits).')
  output_shape = decoder.output_shape
  image_shape = tuple(int(d) for d in (image_shape or output_shape))
  if len(image_shape) == 2:
    image_shape += (1,)
  if len(image_shape) != 3:
    raise ModelError(
        f'{source} outputs per-example shape {output_shape}; blurring needs '
        f'an image shape (H, W, C): give image_shape.')
  if int(np.prod(image_shape)) != int(np.prod(output_shape)):
    raise ModelError(
        f'{source} outputs {int(np.prod(output_shape))} values per example, '
        f'not the {int(np.prod(image_shape))} of image shape {image_shape}.')
  # Checks the radius against the image now rather than at the first call.
  if sigma > 0 and padding == 'reflect':
    radius = int(math.ceil(3.0 * sigma))
    if radius >= min(image_shape[:2]):
      raise ValueError(
          f'A blur of sigma {sigma:g} has radius {radius}, which does not '
          f'fit in a {image_shape[0]}×{image_shape[1]} image with reflect '
          f'padding; use a smaller sigma or zero padding.')
  transform = {'transform': 'gaussian_blur', 'sigma': sigma,
               'radius': int(math.ceil(3.0 * sigma)), 'padding': padding,
               'image_shape': list(image_shape)}
  if sigma == 0:
    model = decoder.model
  elif decoder.output_kind == 'mean_logvar':
    size = int(np.prod(image_shape))

    def model(latents):
      mean, log_variance = tf.split(decoder(latents), [size, size], axis=-1)
      mean = blur_images(tf.reshape(mean, (-1,) + image_shape), sigma, padding)
      return tf.concat([tf.reshape(mean, [-1, size]), log_variance], axis=-1)
  else:

    def model(latents):
      outputs = decoder(latents)
      blurred = blur_images(tf.reshape(outputs, (-1,) + image_shape), sigma,
                            padding)
      return tf.reshape(blurred, (-1,) + output_shape)

  return LoadedDecoder(model, decoder.latent_dim, output_shape,
                       dtype=decoder.dtype, source=decoder.source,
                       format=decoder.format, output_kind=decoder.output_kind,
                       raw_output_shapes=decoder.raw_output_shapes,
                       transforms=decoder.transforms + (transform,))
