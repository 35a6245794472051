"""Sample grids: many images tiled into one PNG."""

import os

import numpy as np

from tfrd import files

__all__ = ['image_grid', 'save_grid']


def image_grid(images, columns=8, padding=2, scale=1):
  """Tiles images [N, H, W, C] in [0, 1] into one uint8 image.

  Args:
    images: float array [N, H, W, C] (C = 1 or 3) with values in [0, 1]
      (clipped).
    columns: images per row.
    padding: pixels of white between images.
    scale: integer upscaling (nearest neighbour), for small images.

  Returns:
    uint8 array [rows·(H + padding) + padding, ..., C].
  """
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  if images.ndim != 4:
    raise ValueError(f'images must be [N, H, W, C], got shape '
                     f'{images.shape}.')
  if scale > 1:
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
  count, height, width, channels = images.shape
  columns = max(1, min(columns, count))
  rows = -(-count // columns)
  grid = np.ones((rows * (height + padding) + padding,
                  columns * (width + padding) + padding, channels),
                 np.float32)
  for index, image in enumerate(images):
    top = padding + (index // columns) * (height + padding)
    left = padding + (index % columns) * (width + padding)
    grid[top:top + height, left:left + width] = image
  return np.round(grid * 255.0).astype(np.uint8)


def save_grid(path, images, columns=8, padding=2, scale=2):
  """Writes `image_grid(images, ...)` as a PNG at `path`; returns the path."""
  import keras  # pylint: disable=g-import-not-at-top
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with files.atomic_write(path, 'wb') as stream:
    keras.utils.save_img(stream, image_grid(images, columns, padding, scale),
                         data_format='channels_last', file_format='png',
                         scale=False)
  return path
