"""Matplotlib figures of rate-prior distortion curves (paper Fig. 3–4, 7).

The figures are `matplotlib.figure.Figure`s drawn on their own Agg canvas,
not pyplot figures: pyplot would need a backend chosen for the whole process
(`matplotlib.use('Agg')`), and a library must not change the backend of the
user's notebook or GUI. The figures are written to files only (with
`tfrd.files.save_figure`), never shown, and nothing keeps them alive once
written, so there is nothing to close.
"""

import textwrap

from matplotlib import figure as figure_lib
from matplotlib import lines as lines_lib
from matplotlib.backends import backend_agg
import numpy as np

from tfrd import files

__all__ = ['plot_curves', 'curves_figure', 'value_at_beta',
           'log_likelihoods_figure', 'plot_reconstructions',
           'guess_image_shape', 'wants_log_distortion', 'wants_log_rate',
           'recorded_gap_stderr']


def recorded_gap_stderr(record):
  """The standard error of a BDMC point record's mean gap, or None where
  none exists.

  Here, with the figures that draw the gaps, because `tfrd.plotting` loads
  without TensorFlow, as the readers of results (`pipelines.report_figures`,
  `pipelines.findings`) do.

  Args:
    record: a `tfrd.accuracy.point_record`, or an entry of curve.json's
      `accuracy.gaps`, as written by any version.

  Returns:
    The float, or None: when the record has none (JSON null), and for a
    record of one image written before standard errors from the chains
    (no `gap_stderr_chains` key), which stored 0.0 where none existed.
  """
  stderr = record.get('gap_stderr')
  if stderr is None:
    return None
  if ((record.get('num_images') or 2) < 2 and
      'gap_stderr_chains' not in record and stderr == 0.0):
    return None
  return float(stderr)


def _new_figure(figsize):
  """A figure with an Agg canvas of its own, outside pyplot."""
  figure = figure_lib.Figure(figsize=figsize)
  backend_agg.FigureCanvasAgg(figure)
  return figure


def plot_curves(curves, path, title=None, log_distortion=None,
                annotate_gaps=None):
  """Plots rate against distortion for several curves in one figure.

  Args:
    curves: dict label -> object with `rate` and `distortion` arrays (an
      `RDCurve`, a `tfrd.linear.LinearRDCurve` averaged over images, or any
      (distortion, rate) pair as a tuple). A curve with a `bdmc` list (see
      `curves_figure`) gets its BDMC gaps drawn as error bars.
    path: image file to write (PNG, or the format its extension names), or
      a binary stream that gets PNG (see `tfrd.files.save_figure`).
    title: optional title.
    log_distortion: log-scale the distortion axis; by default when the
      distortions span more than two decades.
    annotate_gaps: write each BDMC gap beside its error bar; by default
      when there is a single curve (several would overlap).

  Returns:
    `path`.
  """
  figure = curves_figure(curves, title=title, log_distortion=log_distortion,
                         annotate_gaps=annotate_gaps)
  files.save_figure(figure, path)
  return path


# The legend entry of the BDMC gaps' bars.
GAP_LEGEND = ('BDMC gap: a bound for data simulated from the decoder, '
              'an indication for these images')


# Curves whose largest rates differ by more than this factor share a log
# rate axis: on a linear one the smaller curves are flat lines at zero
# (fig4: GAN-GP2 stops at 9 nats, GAN-GP100 passes 1000).
LOG_RATE_SPREAD = 20.0
# Characters of a title line that fit the 11-inch curves figure at
# matplotlib's default title size (about 120); longer titles (apps.reproduce
# puts a figure's whole description there) wrap instead of running off both
# edges.
TITLE_WIDTH = 100


def curves_figure(curves, title=None, log_distortion=None, annotate_gaps=None,
                  log_rate=None):
  """The figure `plot_curves` writes: rate against distortion and against β.

  BDMC gaps: a curve with a `bdmc` attribute (a list of dicts with `beta`
  and `mean_gap`, as `RDCurve.bdmc` holds) gets, at each such β, an error
  bar reaching `mean_gap` nats below its rate, in both panels. The AIS rate
  is an upper bound in expectation (eq. 15) and the gap bounds the error of
  log Ẑ on images simulated from the decoder at the curve's schedule, so
  the bar indicates where the true rate may lie (paper §2.1, Fig. 9); for
  the curve's own images it is not a bound, and the legend says so. The point at β is interpolated between recorded points (linearly
  in log β) when β is not one of them; gaps at β outside the curve are not
  drawn.

  Args:
    curves: as for `plot_curves`.
    title: optional title.
    log_distortion: as for `plot_curves`.
    annotate_gaps: as for `plot_curves`.
    log_rate: whether the rate axes are logarithmic; None: when all rates
      are positive and the curves' largest rates differ by more than
      `LOG_RATE_SPREAD`.

  Returns:
    A `matplotlib.figure.Figure` with two axes (rate-distortion, rate-β).
  """
  if annotate_gaps is None:
    annotate_gaps = len(curves) == 1
  figure = _new_figure((11, 4.2))
  rd_axis, beta_axis = figure.subplots(1, 2)
  all_distortions, all_rates = [], []
  drew_gaps = False
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
    line, = rd_axis.plot(distortion, rate, style, label=label, markersize=4)
    if betas is not None:
      beta_axis.plot(np.asarray(betas), rate, style, label=f'{label}: rate',
                     markersize=4, color=line.get_color())
      gaps = getattr(curve, 'bdmc', None)
      if gaps:
        drew_gaps = _draw_gaps(rd_axis, beta_axis, np.asarray(betas),
                               distortion, rate, gaps, line.get_color(),
                               annotate_gaps) or drew_gaps
    all_distortions.append(distortion[np.isfinite(distortion)])
    all_rates.append(rate[np.isfinite(rate)])
  if log_distortion is None:
    log_distortion = wants_log_distortion(all_distortions)
  if log_distortion:
    rd_axis.set_xscale('log')
  if log_rate is None:
    log_rate = wants_log_rate(all_rates)
  if log_rate:
    rd_axis.set_yscale('log')
    beta_axis.set_yscale('log')
  rd_axis.set_xlabel('distortion D (per image)')
  rd_axis.set_ylabel('rate R (nats per image)')
  rd_axis.set_title('rate-prior distortion curve')
  rd_axis.grid(alpha=0.3)
  handles, labels = rd_axis.get_legend_handles_labels()
  if drew_gaps:
    # One entry for every curve's bars, what they are and what they are not
    # (a bare marker, not one more error bar on the axes).
    handles.append(lines_lib.Line2D([], [], marker='o', linestyle='none',
                                    color='gray', markersize=4))
    labels.append(GAP_LEGEND)
  rd_axis.legend(handles, labels)
  beta_axis.set_xscale('log')
  beta_axis.set_xlabel('inverse temperature β')
  beta_axis.set_ylabel('rate R (nats per image)')
  beta_axis.set_title('rate along the schedule')
  beta_axis.grid(alpha=0.3)
  if beta_axis.lines:
    beta_axis.legend()
  if title:
    figure.suptitle(textwrap.fill(title, TITLE_WIDTH))
  figure.tight_layout()
  return figure


def wants_log_distortion(distortions):
  """Whether curves with these distortions (a list of arrays, one per
  curve) get a log distortion axis: all positive, spanning more than two
  decades."""
  distortions = [np.asarray(values, dtype=np.float64).ravel()
                 for values in distortions]
  distortions = [values[np.isfinite(values)] for values in distortions]
  joined = np.concatenate(distortions) if distortions else np.ones(1)
  positive = joined[joined > 0]
  return bool(positive.size == joined.size and positive.size > 1 and
              positive.max() / positive.min() > 100)


def wants_log_rate(rates):
  """Whether curves with these rates (a list of arrays, one per curve)
  share a log rate axis: all positive, and the curves' largest rates
  differ by more than `LOG_RATE_SPREAD`."""
  rates = [np.asarray(values, dtype=np.float64).ravel() for values in rates]
  rates = [values[np.isfinite(values)] for values in rates]
  largest = [values.max() for values in rates if values.size]
  return bool(len(largest) > 1 and
              all(np.all(values > 0) for values in rates) and
              max(largest) > LOG_RATE_SPREAD * min(largest))


def value_at_beta(betas, values, beta):
  """`values` (recorded at increasing `betas`) interpolated at `beta`.

  Linear in log β between positive betas, where the schedules are dense;
  linear in β between a β = 0 point and the first positive one.

  Returns:
    A float, or None if `beta` lies outside the recorded betas.
  """
  betas = np.asarray(betas, dtype=np.float64)
  values = np.asarray(values, dtype=np.float64)
  keep = np.isfinite(values)
  betas, values = betas[keep], values[keep]
  positive = betas > 0
  if not positive.any() or beta > betas.max() * (1 + 1e-12) or beta <= 0:
    return None
  smallest = betas[positive].min()
  if beta >= smallest:
    return float(np.interp(np.log(beta), np.log(betas[positive]),
                           values[positive]))
  zero = np.nonzero(betas == 0)[0]
  if zero.size == 0:
    return None
  start, end = values[zero[0]], values[positive][np.argmin(betas[positive])]
  return float(start + (end - start) * beta / smallest)


def _draw_gaps(rd_axis, beta_axis, betas, distortion, rate, gaps, color,
               annotate):
  """Error bars of BDMC gaps below the curve's rate at their betas; returns
  whether any was drawn."""
  where = []
  for gap in gaps:
    beta = float(gap['beta'])
    point_rate = value_at_beta(betas, rate, beta)
    point_distortion = value_at_beta(betas, distortion, beta)
    if point_rate is None or point_distortion is None or gap.get(
        'mean_gap') is None:
      continue
    where.append((beta, point_distortion, point_rate, float(gap['mean_gap']),
                  recorded_gap_stderr(gap)))
  if not where:
    return False
  beta, point_distortion, point_rate, size = (
      np.array(c, dtype=float) for c in list(zip(*where))[:4])
  # Only downward: the AIS rate is the upper end of what the gap allows.
  yerr = np.stack([np.maximum(size, 0.0), np.zeros_like(size)])
  rd_axis.errorbar(point_distortion, point_rate, yerr=yerr, fmt='o',
                   color=color, capsize=4, markersize=4)
  beta_axis.errorbar(beta, point_rate, yerr=yerr, fmt='o', color=color,
                     capsize=4, markersize=4)
  if annotate:
    # Off the curve: above right of each point on the falling R(D) curve,
    # below right on the rising R(β) one; the outermost point (largest
    # distortion, largest β) above left, inside the axes.
    def place(last, offset):
      if last:
        return dict(xytext=(-6, 6), horizontalalignment='right')
      return dict(xytext=offset, horizontalalignment='left')

    for b, d, r, g, stderr in where:
      text = f'{g:.2g}' + ('' if stderr is None else f' ± {stderr:.1g}')
      rd_axis.annotate(f'BDMC gap {text} nats\n(β = {b:.3g})', (d, r),
                       textcoords='offset points', fontsize=7, color=color,
                       **place(d == point_distortion.max(), (8, 4)))
      beta_axis.annotate(f'gap {text}', (b, r), textcoords='offset points',
                         fontsize=7, color=color,
                         **place(b == beta.max(), (6, -14)))
    # Room for the notes inside the axes, clear of the titles.
    for axis in (rd_axis, beta_axis):
      axis.margins(x=0.08, y=0.15)
  return True


def log_likelihoods_figure(code_sizes, log_likelihoods, stderrs,
                           title=None):
  """log p(x) per image against the code size, with ± 2 standard errors.

  For models whose RD curves are not on one axis (Gaussian NLLs of
  different learned scales are different distortions) but whose
  log-likelihoods at β = 1, the negative lossless rate, are.

  Args:
    code_sizes: [M] code sizes (a log axis).
    log_likelihoods: [M] mean log p(x) over images, nats.
    stderrs: [M] their standard errors over images.
    title: the figure's title, or None.

  Returns:
    The `matplotlib.figure.Figure`.
  """
  figure = _new_figure((5.5, 4.0))
  axis = figure.add_subplot(1, 1, 1)
  axis.errorbar(code_sizes, log_likelihoods, yerr=2 * np.asarray(stderrs),
                marker='o', capsize=4)
  for size, value in zip(code_sizes, log_likelihoods):
    axis.annotate(f'{value:.1f}', (size, value), textcoords='offset points',
                  xytext=(8, -4), fontsize=9)
  axis.set_xscale('log')
  axis.set_xticks(list(code_sizes))
  axis.set_xticklabels([str(size) for size in code_sizes])
  axis.set_xlabel('code size')
  axis.set_ylabel('log p(x) at β = 1 (nats per image, ± 2 s.e.)')
  axis.grid(alpha=0.3)
  if title:
    axis.set_title('\n'.join(textwrap.wrap(title, 60)), fontsize=10)
  figure.tight_layout()
  return figure


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
