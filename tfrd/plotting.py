"""Matplotlib figures of rate-prior distortion curves (paper Fig. 3–4, 7).

The figures are `matplotlib.figure.Figure`s drawn on their own Agg canvas,
not pyplot figures: pyplot would need a backend chosen for the whole process
(`matplotlib.use('Agg')`), and a library must not change the backend of the
user's notebook or GUI. The figures are written to files only (with
`tfrd.files.save_figure`), never shown, and nothing keeps them alive once
written, so there is nothing to close.
"""

from matplotlib import figure as figure_lib
from matplotlib.backends import backend_agg
import numpy as np

from tfrd import files

__all__ = ['plot_curves', 'plot_reconstructions', 'guess_image_shape']


def _new_figure(figsize):
  """A figure with an Agg canvas of its own, outside pyplot."""
  figure = figure_lib.Figure(figsize=figsize)
  backend_agg.FigureCanvasAgg(figure)
  return figure


def plot_curves(curves, path, title=None, log_distortion=None):
  """Plots rate against distortion for several curves in one figure.

  Args:
    curves: dict label -> object with `rate` and `distortion` arrays (an
      `RDCurve`, a `tfrd.linear.LinearRDCurve` averaged over images, or any
      (distortion, rate) pair as a tuple).
    path: image file to write (PNG, or the format its extension names), or
      a binary stream that gets PNG (see `tfrd.files.save_figure`).
    title: optional title.
    log_distortion: log-scale the distortion axis; by default when the
      distortions span more than two decades.

  Returns:
    `path`.
  """
  figure = _new_figure((11, 4.2))
  rd_axis, beta_axis = figure.subplots(1, 2)
  all_distortions = []
  for label, curve in curves.items():
    if isinstance(curve, tuple):
      distortion, rate, betas = (list(curve) + [None])[:3]
    else:
      distortion, rate = curve.distortion, curve.rate
      betas = getattr(curve, 'betas', None)
    distortion, rate = np.asarray(distortion), np.asarray(rate)
    if distortion.ndim == 2:  # per-image [P, N] arrays
      distortion, rate = distortion.mean(1), rate.mean(1)
    style = '-' if 'AIS' not in label and 'ais' not in label else '.-'
    rd_axis.plot(distortion, rate, style, label=label, markersize=4)
    if betas is not None:
      beta_axis.plot(np.asarray(betas), rate, style, label=f'{label}: rate',
                     markersize=4)
    all_distortions.append(distortion[np.isfinite(distortion)])
  joined = np.concatenate(all_distortions) if all_distortions else np.ones(1)
  positive = joined[joined > 0]
  if log_distortion is None:
    log_distortion = (positive.size == joined.size and positive.size > 1 and
                      positive.max() / positive.min() > 100)
  if log_distortion:
    rd_axis.set_xscale('log')
  rd_axis.set_xlabel('distortion D (per image)')
  rd_axis.set_ylabel('rate R (nats per image)')
  rd_axis.set_title('rate-prior distortion curve')
  rd_axis.grid(alpha=0.3)
  rd_axis.legend()
  beta_axis.set_xscale('log')
  beta_axis.set_xlabel('inverse temperature β')
  beta_axis.set_ylabel('rate R (nats per image)')
  beta_axis.set_title('rate along the schedule')
  beta_axis.grid(alpha=0.3)
  if beta_axis.lines:
    beta_axis.legend()
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  files.save_figure(figure, path)
  return path


def guess_image_shape(num_values):
  """(H, W, C) for a flat image: square grey or square RGB, else None."""
  for channels in (1, 3):
    side = int(round((num_values / channels) ** 0.5))
    if side * side * channels == num_values:
      return (side, side, channels)
  return None


def plot_reconstructions(data, reconstructions, path, image_shape=None,
                         max_images=10):
  """A grid of data (first column) and decodings at several RD points.

  Args:
    data: [N, ...] images.
    reconstructions: dict column title -> [N, ...] decoded images (e.g. of
      latents drawn from the AIS distribution at one β; appendix D.4).
    path: PNG file to write.
    image_shape: (H, W, C) to reshape flat images; guessed if None.
    max_images: rows shown.

  Returns:
    `path`.

  Raises:
    ValueError: if the images cannot be shown as (H, W, C).
  """
  data = np.asarray(data)
  num_values = int(np.prod(data.shape[1:]))
  if image_shape is None:
    image_shape = (data.shape[1:] if data.ndim == 4 else
                   guess_image_shape(num_values))
  if image_shape is None or int(np.prod(image_shape)) != num_values:
    raise ValueError(f'Cannot show images of {num_values} values as a grid; '
                     f'give their (height, width, channels).')
  columns = [('data', data)] + list(reconstructions.items())
  rows = min(max_images, data.shape[0])
  figure = _new_figure((1.2 * len(columns), 1.2 * rows + 0.4))
  axes = figure.subplots(rows, len(columns), squeeze=False)
  for column, (title, images) in enumerate(columns):
    images = np.clip(np.asarray(images).reshape((-1,) + tuple(image_shape)),
                     0.0, 1.0)
    for row in range(rows):
      axis = axes[row, column]
      image = images[row]
      axis.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                  cmap='gray', vmin=0.0, vmax=1.0)
      axis.set_xticks([])
      axis.set_yticks([])
      if row == 0:
        axis.set_title(title, fontsize=7)
  figure.tight_layout()
  files.save_figure(figure, path)
  return path
