"""Synthetic 32×32×3 images for training and testing the convolutional models.

CIFAR-10 is not available offline, so the DCGAN networks are exercised on
images drawn here: a tinted background with one to three soft coloured
blobs. They have the shape, range and some of the structure of natural
images (smooth regions, edges, colour), are generated in milliseconds and
are a deterministic function of the seed.
"""

import numpy as np

__all__ = ['SHAPE', 'synthetic_images']

SHAPE = (32, 32, 3)
_MAX_BLOBS = 3


def synthetic_images(num_images, seed=0, image_shape=SHAPE):
  """Draws `num_images` smooth colour images.

  Args:
    num_images: N, a positive integer.
    seed: the images are a deterministic function of it.
    image_shape: (H, W, C).

  Returns:
    float32 array [N, H, W, C] in [0, 1].

  Raises:
    ValueError: for a non-positive N or a malformed shape.
  """
  if isinstance(num_images, bool) or int(num_images) != num_images or (
      num_images < 1):
    raise ValueError(f'num_images must be a positive integer, got '
                     f'{num_images!r}.')
  height, width, channels = (int(d) for d in image_shape)
  rng = np.random.default_rng(seed)
  rows = np.linspace(0.0, 1.0, height)[None, :, None, None]
  columns = np.linspace(0.0, 1.0, width)[None, None, :, None]
  images = 0.3 * rng.uniform(size=(num_images, 1, 1, channels))
  for blob in range(_MAX_BLOBS):
    # Blob k is present in about (3 - k)/3 of the images, so the count
    # varies from one to three.
    present = (rng.uniform(size=(num_images, 1, 1, 1)) <
               (_MAX_BLOBS - blob) / _MAX_BLOBS)
    centre_row = rng.uniform(0.15, 0.85, size=(num_images, 1, 1, 1))
    centre_column = rng.uniform(0.15, 0.85, size=(num_images, 1, 1, 1))
    radius = rng.uniform(0.08, 0.25, size=(num_images, 1, 1, 1))
    colour = rng.uniform(size=(num_images, 1, 1, channels))
    weight = np.exp(-((rows - centre_row)**2 + (columns - centre_column)**2)
                    / (2.0 * radius**2))
    images = images * (1.0 - present * weight) + present * weight * colour
  return np.clip(images, 0.0, 1.0).astype(np.float32)
