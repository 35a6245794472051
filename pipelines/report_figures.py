"""The figures of `apps.reproduce`, drawn from the results.json it writes.

Why a module: a figure is drawn from its results.json document
(`pipelines.reproduce.run_figure`'s, with every curve's points, per-image
values and BDMC gaps), not from curves held in memory, so the committed
results (report/cpu/) are redrawn without computing anything again
(`python -m apps.reproduce --redraw`), and every figure's design has one
owner, here, whether it is drawn at the end of a run or redrawn later:

- one colour per model family in every figure (`FAMILY_COLOURS`), one line
  style per code size (`CODE_SIZE_STYLES`); where a figure is about depth
  (fig3a) the colour is the code size's and the style the depth's;
- legends outside the axes (right of them, or below the figure), never over
  a curve;
- axis labels that name the distortion and its units
  (`distortion_label`), and say when an axis is logarithmic (chosen by
  `tfrd.plotting.wants_log_rate` / `wants_log_distortion`, the rule of
  apps.compare's figures, and here also when the rates span more than two
  decades: a report figure is read for its low- and mid-rate regimes,
  which a linear axis to 1,000 nats flattens; `_log_axes`);
- the low rates of fig5a (damaged prior) and fig5b (blur), where the
  paper's effects are, in a second panel zoomed on rate < `LOW_RATE` nats;
- fig7: the closed form drawn as a thin line over hollow AIS markers, one
  panel per distortion; fig8: the fresh-seed runs' differences from the
  preliminary run in panels of their own, with paired standard errors
  over the images; fig9: each curve's BDMC gaps written on it at their β.

d4 (reconstruction grids) needs images that results.json does not hold; it
stays with `pipelines.reproduce`. `tests/test_report_figures.py` draws
every committed figure and checks these rules on the matplotlib figures.
"""

import json
import os

from matplotlib import figure as figure_lib
from matplotlib import lines as lines_lib
from matplotlib.backends import backend_agg
import numpy as np

from tfrd import files
from tfrd import plotting

__all__ = ['FAMILY_COLOURS', 'FAMILY_NAMES', 'CODE_SIZE_STYLES',
           'CODE_SIZE_COLOURS', 'DEPTH_STYLES', 'LOW_RATE', 'RATE_LABEL',
           'distortion_label', 'figure_title', 'build_figure', 'draw_figure',
           'redraw']

# One colour per family in every figure (matplotlib's tab10).
FAMILY_COLOURS = {
    'vae': 'tab:blue', 'wgan_gp': 'tab:red', 'aae': 'tab:green',
    'gan': 'tab:orange', 'wgan': 'tab:purple', 'sngan': 'tab:brown',
    'fgan': 'tab:pink', 'linear': 'tab:gray'}
FAMILY_NAMES = {'vae': 'VAE', 'wgan_gp': 'GAN-GP', 'aae': 'AAE',
                'linear': 'linear VAE', 'gan': 'GAN', 'wgan': 'WGAN',
                'sngan': 'SN-GAN', 'fgan': 'f-GAN'}
# Line style per code size: the larger the code, the fuller the line.
CODE_SIZE_STYLES = {2: ':', 5: '-.', 10: '--', 100: '-'}
# fig3a, where the family is one and the depth varies: colour by code size
# (Dark2, apart from the families' colours), style by depth.
CODE_SIZE_COLOURS = {2: '#1b9e77', 5: '#d95f02', 10: '#7570b3',
                     100: '#e7298a'}
DEPTH_STYLES = {'shallow': '-', 'deep': '--'}
# fig5a and fig5b's second panel: rates below this (nats per image), where
# a damaged prior costs and a blur helps (paper §6).
LOW_RATE = 10.0
RATE_LABEL = 'rate (nats per image)'
# MNIST: the squared error is summed over its 28 x 28 pixels.
_MNIST_PIXELS = 784
_OTHER_COLOURS = ('tab:olive', 'tab:cyan', 'black', 'tab:gray')
_SHORT_TITLES = {
    'fig3a': 'shallow and deep GAN-GP, code sizes 2, 5, 10, 100 (Fig. 3a)',
    'fig4': 'VAE, GAN-GP and AAE, code sizes 2, 10, 100 (Fig. 4)',
    'fig5a': 'a damaged prior (1 - α) N(0, I) + α N(0, 10 I) (Fig. 5a)',
    'fig5b': 'decoder outputs blurred by a Gaussian of σ pixels (Fig. 5b)',
    'fig6': 'distortion in a classifier\'s feature space (Fig. 6)',
    'fig7': 'linear VAE, AIS against the closed form (Fig. 7)',
    'fig8': 'frozen step sizes, fresh seeds (Fig. 8)',
    'fig9': 'BDMC gaps on the AIS curves (Fig. 9)',
    'lossless': 'VAE log-likelihoods at β = 1 by code size',
    'variants': 'GAN variants on MNIST, code sizes 2, 10, 100 (cf. Fig. 3b)',
}
_TITLE_CHARACTERS = 80


def _new_figure(figsize):
  """A figure on an Agg canvas of its own (as tfrd.plotting's), laid out
  by matplotlib's constrained layout, which keeps legends outside the axes
  inside the image."""
  figure = figure_lib.Figure(figsize=figsize, layout='constrained')
  backend_agg.FigureCanvasAgg(figure)
  return figure


# Reading a results document.


def _model(record):
  return record.get('model') or {}


def _family(record):
  return _model(record).get('family')


def _code_size(record):
  return _model(record).get('code_size')


def _column(record, key):
  return np.array([np.nan if point.get(key) is None else point[key]
                   for point in record['points']], dtype=np.float64)


def _betas(record):
  return _column(record, 'beta')


def _rates(record):
  return _column(record, 'rate')


def _distortions(record):
  return _column(record, 'distortion')


def _model_name(record):
  family = _family(record)
  return f'{FAMILY_NAMES.get(family, family)}{_code_size(record) or ""}'


def distortion_label(distortion):
  """The distortion axis' label for a curve's recorded distortion."""
  name = (distortion or {}).get('name')
  if name == 'mse':
    shape = (distortion or {}).get('image_shape')
    pixels = int(np.prod(shape)) if shape else _MNIST_PIXELS
    return f'distortion: squared error summed over {pixels} pixels'
  if name == 'gaussian_nll':
    return 'distortion: Gaussian negative log-likelihood (nats per image)'
  if name == 'features':
    return 'distortion: squared error between classifier features'
  return f'distortion: {name or "unrecorded"} (per image)'


def _rate_label(log):
  return RATE_LABEL + (', log scale' if log else '')


def _distortion_axis_label(record, log):
  return distortion_label(record.get('distortion')) + (
      ', log scale' if log else '')


def figure_title(results):
  """'fig4: VAE, GAN-GP and AAE, ... [cpu budget]': name, one line, budget."""
  name = results.get('figure', '?')
  short = _SHORT_TITLES.get(name)
  if short is None:
    short = results.get('description') or ''
    if len(short) > _TITLE_CHARACTERS:
      short = short[:_TITLE_CHARACTERS - 3].rsplit(' ', 1)[0] + '...'
  if name == 'fig8' and results.get('curves'):
    short = f'{_model_name(results["curves"][0])}, {short}'
  return f'{name}: {short} [{results.get("budget", "?")} budget]'


def _gap_text(gap, stderr=None):
  """'0.11 ± 0.05' (nats): to the standard error's first digit, at least
  two decimals."""
  decimals = 2
  if stderr is not None and 0 < stderr < 0.01:
    decimals = 3
  text = f'{gap:.{decimals}f}'
  if stderr is not None:
    text += f' ± {stderr:.{decimals}f}'
  return text


def _gap_at_largest_beta(record):
  """(gap, stderr) of the curve's accuracy check at its largest β, or None."""
  accuracy = record.get('accuracy') or {}
  gaps = accuracy.get('gaps') or record.get('bdmc') or []
  betas = _betas(record)
  if not gaps or not betas.size:
    return None
  largest = np.nanmax(betas)
  for gap in gaps:
    if gap.get('mean_gap') is not None and np.isclose(gap['beta'], largest):
      return float(gap['mean_gap']), plotting.recorded_gap_stderr(gap)
  return None


def _legend_label(record, extra=None):
  """The curve's label, with its log-likelihood or its BDMC gap at β_max
  when recorded."""
  label = record.get('label') or record.get('name', '?')
  notes = [] if extra is None else [extra]
  gap = _gap_at_largest_beta(record)
  if gap is not None:
    notes.append(f'BDMC gap at β = {np.nanmax(_betas(record)):g} '
                 f'{_gap_text(*gap)} nats')
  return ', '.join([label] + notes)


def _finite_rates(records):
  rates = np.concatenate([_rates(r) for r in records])
  return rates[np.isfinite(rates)]


def _log_axes(records):
  """(log distortion, log rate) for curves sharing one axis.

  Besides `plotting.wants_log_rate`'s rule (curves whose largest rates
  differ by more than its spread), rates spanning more than two decades
  take a log axis: on a linear one, a curve reaching 400 or 2,500 nats at
  beta_max squashes every curve's low- and mid-rate regimes, where the
  paper's comparisons are, into the bottom of the panel (fig5b, fig6).
  """
  rates = _finite_rates(records)
  wide = bool(rates.size and rates.min() > 0 and
              rates.max() > 100 * rates.min())
  return (plotting.wants_log_distortion([_distortions(r) for r in records]),
          plotting.wants_log_rate([_rates(r) for r in records]) or wide)


def _family_style(record):
  family = _family(record)
  colour = FAMILY_COLOURS.get(family)
  if colour is None:
    colour = _OTHER_COLOURS[sum(map(ord, str(family))) %
                            len(_OTHER_COLOURS)]
  return {'color': colour,
          'linestyle': CODE_SIZE_STYLES.get(_code_size(record), '-')}


def _depth_style(record):
  return {'color': CODE_SIZE_COLOURS.get(_code_size(record), 'black'),
          'linestyle': DEPTH_STYLES.get(_model(record).get('depth'), '-')}


def _plot_rd(axis, record, label, **style):
  # Dotted lines thicker: at the same width they read fainter.
  style = {'linewidth': 2.3 if style.get('linestyle') == ':' else 1.8,
           **style}
  line, = axis.plot(_distortions(record), _rates(record), label=label,
                    **style)
  return line


def _finish_rd_axis(axis, records, log_distortion, log_rate, title=None):
  if log_distortion:
    axis.set_xscale('log')
  if log_rate:
    axis.set_yscale('log')
  axis.set_xlabel(_distortion_axis_label(records[0], log_distortion))
  axis.set_ylabel(_rate_label(log_rate))
  axis.grid(alpha=0.3)
  if title:
    axis.set_title(title, fontsize=10)


def _legend_right(axis, **options):
  return axis.legend(loc='upper left', bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, fontsize=8, **options)


def _legend_below(figure, handles, labels, columns):
  return figure.legend(handles, labels, loc='outside lower center',
                       ncols=columns, fontsize=8)


# The figures.


def _curves_by_style(results, style_of, figsize=(9.5, 5.0)):
  """One rate-distortion panel, a legend right of it (fig3a, fig4, fig6,
  variants, and any figure without a design of its own)."""
  records = results['curves']
  figure = _new_figure(figsize)
  axis = figure.add_subplot(1, 1, 1)
  for record, twin in zip(records, _identical_to_earlier(records)):
    extra = None if twin is None else (
        f'same curve as {twin.get("label") or twin.get("name")}')
    _plot_rd(axis, record, _legend_label(record, extra), **style_of(record))
  _finish_rd_axis(axis, records, *_log_axes(records))
  _legend_right(axis, handlelength=3.0)
  figure.suptitle(figure_title(results))
  return figure


def _identical_to_earlier(records):
  """For each curve, the earlier curve with exactly its points, or None.

  A later curve is drawn over an identical earlier one and hides it; its
  label says so (variants: the zoo's default f-GAN, Jensen-Shannon, trains
  exactly as the non-saturating GAN from the same seed).
  """
  seen, twins = {}, []
  for record in records:
    points = (tuple(_rates(record).tolist()),
              tuple(_distortions(record).tolist()))
    twins.append(seen.get(points))
    seen.setdefault(points, record)
  return twins


def _families(results):
  return _curves_by_style(results, _family_style)


def _fig3a(results):
  return _curves_by_style(results, _depth_style)


def _sequential_colours(count, colour_map):
  """`count` shades of a matplotlib colour map, light to dark."""
  from matplotlib import colormaps  # pylint: disable=g-import-not-at-top
  return [colormaps[colour_map](value)
          for value in np.linspace(0.55, 0.95, count)]


def _manipulation_styles(records, is_plain, colour_map):
  """The undamaged model in its family's colour, the manipulated ones in
  shades of `colour_map` (darker: more damage, in the order given); a
  curve stopping at β = 1 (a log-likelihood run, drawn as its one point) in
  the colour of the curve with its prior."""
  full = [r for r in records if not _stops_at_one(r, records)]
  damaged = [r for r in full if not is_plain(r)]
  colours = dict(zip((r['name'] for r in damaged),
                     _sequential_colours(len(damaged), colour_map)))
  styles = {}
  for record in records:
    twin = next((r for r in full if r.get('prior') == record.get('prior') and
                 r.get('blur_sigma') == record.get('blur_sigma')), record)
    colour = (FAMILY_COLOURS.get(_family(record), 'black') if is_plain(twin)
              else colours.get(twin['name'], 'black'))
    styles[record['name']] = {'color': colour, 'linestyle': '-'}
  return styles


def _stops_at_one(record, records):
  """Whether the curve ends at β = 1 while others go further: a
  log-likelihood run (fig5a's longer schedule to β = 1)."""
  largest = np.nanmax(_betas(record))
  return bool(largest <= 1.0 + 1e-9 and
              any(np.nanmax(_betas(r)) > 1.0 + 1e-9 for r in records))


def _with_low_rate_panel(results, styles, extra_label=None):
  """fig5a, fig5b: the whole curves, and beside them the same curves zoomed
  on rates below `LOW_RATE`; one legend below both."""
  records = results['curves']
  labels = [_legend_label(record, extra_label and extra_label(record))
            for record in records]
  # Labels carrying a log-likelihood and a gap need the whole width.
  wide = max(len(label) for label in labels) > 70
  figure = _new_figure((11.5, 5.6 + (0.25 * len(labels) if wide else 0.0)))
  whole, low = figure.subplots(1, 2)
  handles = []
  for record, label in zip(records, labels):
    if _stops_at_one(record, records):
      # A log-likelihood run has two RD points; a line between them would
      # read as a curve. Its one reading, at beta = 1, is the point.
      point = np.argmax(_betas(record))
      style = {**styles[record['name']], 'marker': 'D', 'markersize': 8,
               'markerfacecolor': 'none', 'markeredgewidth': 1.8,
               'linestyle': 'none', 'zorder': 4}
      for axis in (whole, low):
        line, = axis.plot([_distortions(record)[point]],
                          [_rates(record)[point]], label=label, **style)
    else:
      line = _plot_rd(whole, record, label, **styles[record['name']])
      _plot_rd(low, record, label, **styles[record['name']])
    handles.append(line)
  # The magnified panel stays linear.
  log_distortion, log_rate = _log_axes(records)
  _finish_rd_axis(whole, records, log_distortion, log_rate,
                  'the whole curves')
  _finish_rd_axis(low, records, log_distortion, False,
                  f'low rates (below {LOW_RATE:g} nats) magnified')
  # The zoom: every curve's points below LOW_RATE, with a margin.
  distortions = np.concatenate([
      _distortions(r)[_rates(r) <= LOW_RATE] for r in records])
  distortions = distortions[np.isfinite(distortions)]
  if distortions.size:
    span = max(distortions.max() - distortions.min(), 1e-9)
    low.set_xlim(distortions.min() - 0.03 * span,
                 distortions.max() + 0.03 * span)
  low.set_ylim(0.0, LOW_RATE)
  rates = _finite_rates(records)
  whole.axhspan(rates.min() if log_rate and rates.size else 0.0, LOW_RATE,
                color='0.94', zorder=0, label='_magnified')
  _legend_below(figure, handles, labels,
                2 if len(records) > 3 and not wide else 1)
  figure.suptitle(figure_title(results))
  return figure


def _fig5a(results):
  records = results['curves']
  styles = _manipulation_styles(
      records, lambda r: r.get('prior', 'normal') == 'normal', 'Reds')

  def log_likelihood(record):
    value = record.get('log_likelihood')
    return None if value is None else f'log p(x) = {value:.1f} nats at β = 1'

  return _with_low_rate_panel(results, styles, log_likelihood)


def _fig5b(results):
  records = results['curves']
  styles = _manipulation_styles(
      records, lambda r: not r.get('blur_sigma'), 'Purples')
  return _with_low_rate_panel(results, styles)


def _fig7(results):
  """Per distortion a panel: AIS as hollow markers, the closed form as a
  thin line over them."""
  records = results['curves']
  exact = results.get('exact') or {}
  figure = _new_figure((11.0, 5.0))
  axes = figure.subplots(1, len(records), squeeze=False)[0]
  handles = {}
  for axis, record in zip(axes, records):
    ais, = axis.plot(_distortions(record), _rates(record), 'o',
                     markerfacecolor='none', markeredgecolor='tab:blue',
                     markersize=7, markeredgewidth=1.2, zorder=2,
                     label='AIS estimate')
    handles.setdefault('AIS estimate (hollow markers)', ais)
    closed = exact.get(record['name']) or {}
    title = distortion_label(record.get('distortion')).split(': ', 1)[-1]
    if closed.get('rate_exact') is not None:
      line, = axis.plot(closed['distortion_exact'], closed['rate_exact'],
                        '-', color='black', linewidth=1.0, zorder=3,
                        label='closed form')
      handles.setdefault('closed form (line, drawn over AIS)', line)
      error = closed.get('max_rate_error_nats')
      if error is not None:
        title += f'\nlargest rate error of AIS: {error:.2f} nats'
    log_distortion, log_rate = _log_axes([record])
    _finish_rd_axis(axis, [record], log_distortion, log_rate, title)
  _legend_below(figure, list(handles.values()), list(handles), 2)
  figure.suptitle(figure_title(results))
  return figure


def _paired_difference(record, reference, key):
  """Per β, the mean over images of record - reference (the same images)
  and its paired standard error; None where they do not pair."""
  values = np.asarray(record['per_image'][key], dtype=np.float64)
  base = np.asarray(reference['per_image'][key], dtype=np.float64)
  if (values.shape != base.shape or not np.allclose(
      _betas(record), _betas(reference)) or
      record['per_image'].get('image_indices') !=
      reference['per_image'].get('image_indices')):
    return None
  difference = values - base
  count = difference.shape[1]
  stderr = (difference.std(axis=1, ddof=1) / np.sqrt(count) if count > 1
            else np.zeros(difference.shape[0]))
  return difference.mean(axis=1), stderr


def _fig8(results):
  """The curves over each other, and each fresh-seed run's rate and
  distortion minus the preliminary run's against β (± 2 paired standard
  errors over the images): where the curves overlap, the difference is
  what can be read."""
  records = results['curves']
  names = [r['name'] for r in records]
  sources = [r.get('step_sizes_from') for r in records]
  reference_name = next((s for s in sources if s in names), names[0])
  reference = records[names.index(reference_name)]
  others = [r for r in records if r is not reference]
  colours = ['tab:orange', 'tab:green', 'tab:purple', 'tab:brown',
             'tab:pink', 'tab:olive']
  figure = _new_figure((14.0, 5.0))
  curves_axis, rate_axis, distortion_axis = figure.subplots(1, 3)
  handles = [_plot_rd(curves_axis, reference, _legend_label(reference),
                      color='black', linewidth=3.5, alpha=0.35)]
  for record, colour in zip(others, colours):
    handles.append(_plot_rd(curves_axis, record, _legend_label(record),
                            color=colour, linewidth=1.2, linestyle='--'))
    for axis, key in ((rate_axis, 'rate'), (distortion_axis, 'distortion')):
      paired = _paired_difference(record, reference, key)
      if paired is None:
        continue
      mean, stderr = paired
      betas = _betas(record)
      axis.plot(betas, mean, color=colour, linewidth=1.4)
      axis.fill_between(betas, mean - 2 * stderr, mean + 2 * stderr,
                        color=colour, alpha=0.15, linewidth=0)
  log_distortion, log_rate = _log_axes(records)
  _finish_rd_axis(curves_axis, records, log_distortion, log_rate,
                  'the curves (they overlap)')
  short = reference.get('label', reference_name).split(',')[0].split(' (')[0]
  for axis, quantity, unit in (
      (rate_axis, 'rate', 'nats per image'),
      (distortion_axis, 'distortion', distortion_label(
          reference.get('distortion')).split(': ', 1)[-1])):
    axis.axhline(0.0, color='black', linewidth=1.0)
    axis.set_xscale('log')
    axis.set_xlabel('inverse temperature β, log scale')
    axis.set_ylabel(f'Δ {quantity} ({unit})')
    axis.set_title(f'Δ {quantity}: each seed minus the {short} run,\n'
                   f'± 2 paired standard errors over the images',
                   fontsize=10)
    axis.grid(alpha=0.3)
  # Two columns: a label carries its BDMC gap and is too long for four.
  _legend_below(figure, handles, [h.get_label() for h in handles],
                min(len(handles), 2))
  figure.suptitle(figure_title(results))
  return figure


def _fig9(results):
  """A panel per curve, its BDMC gaps written at their β (paper Fig. 9):
  a gap of 0.2 nats cannot be seen on a 300-nat axis, only read."""
  records = results['curves']
  figure = _new_figure((4.6 * len(records), 5.0))
  axes = figure.subplots(1, len(records), squeeze=False)[0]
  handles = []
  for axis, record in zip(axes, records):
    style = _family_style(record)
    handles.append(_plot_rd(axis, record, record.get('label', '?'),
                            **style))
    betas, rates = _betas(record), _rates(record)
    distortions = _distortions(record)
    gaps = [g for g in record.get('bdmc') or [] if g.get('mean_gap')
            is not None]
    num_images = sorted({g.get('num_images') for g in gaps
                         if g.get('num_images')})
    largest_beta = max((g['beta'] for g in gaps), default=None)
    for gap in gaps:
      beta = float(gap['beta'])
      rate = plotting.value_at_beta(betas, rates, beta)
      distortion = plotting.value_at_beta(betas, distortions, beta)
      if rate is None or distortion is None:
        continue
      stderr = plotting.recorded_gap_stderr(gap)
      axis.plot([distortion], [rate], 'o', color='black', markersize=5,
                zorder=4)
      # Right of the point: the falling curve leaves that side free; the
      # largest β (top left, where the curve rises steeply) a little lower.
      offset = (10, -12) if beta == largest_beta else (10, 2)
      axis.annotate(f'{_gap_text(float(gap["mean_gap"]), stderr)} nats'
                    f'\n(β = {beta:g})', (distortion, rate),
                    textcoords='offset points', xytext=offset, fontsize=9,
                    color='black', zorder=5,
                    bbox={'boxstyle': 'round,pad=0.2', 'facecolor': 'white',
                          'edgecolor': style['color'], 'alpha': 0.9})
    images = (f', {num_images[0]} simulated images' if len(num_images) == 1
              else '')
    _finish_rd_axis(axis, [record], False, False,
                    f'{record.get("label", "?")}: BDMC gaps{images}')
    axis.margins(x=0.25, y=0.08)
  _legend_below(figure, handles + [lines_lib.Line2D(
      [], [], marker='o', color='black', linestyle='none')],
                [h.get_label() for h in handles] +
                ['BDMC gap: mean ± standard error over the simulated images'],
                len(handles) + 1)
  figure.suptitle(figure_title(results))
  return figure


def _lossless(results):
  """log p(x) at β = 1 (the negative lossless rate) against the code size:
  each curve's per-image log Ẑ at its β = 1 point."""
  sizes, means, stderrs = [], [], []
  for record in results['curves']:
    at_one = np.flatnonzero(np.isclose(_betas(record), 1.0))
    if not at_one.size:
      raise ValueError(f'{record.get("name")}: no point at β = 1 to read '
                       f'its log-likelihood from.')
    values = np.asarray(record['per_image']['log_z'][at_one[0]],
                        dtype=np.float64)
    sizes.append(_code_size(record))
    means.append(float(values.mean()))
    stderrs.append(float(values.std(ddof=1) / np.sqrt(values.size))
                   if values.size > 1 else 0.0)
  return plotting.log_likelihoods_figure(sizes, means, stderrs,
                                         title=figure_title(results))


_DRAWERS = {'fig3a': _fig3a, 'fig5a': _fig5a, 'fig5b': _fig5b,
            'fig7': _fig7, 'fig8': _fig8, 'fig9': _fig9,
            'lossless': _lossless}
# Reconstruction grids: their images are not in results.json.
_NOT_DRAWN = ('d4',)


def build_figure(results):
  """The `matplotlib.figure.Figure` of one results.json document.

  Raises:
    ValueError: for d4 (its images are not in results.json) or a document
      without curves.
  """
  name = results.get('figure')
  if name in _NOT_DRAWN:
    raise ValueError(f'{name}\'s figure needs images that results.json does '
                     f'not hold; apps.reproduce draws it while it runs.')
  if not results.get('curves'):
    raise ValueError(f'{name}: results.json holds no curves to draw.')
  return _DRAWERS.get(name, _families)(results)


def draw_figure(results, path):
  """Draws the figure of one loaded results.json into `path` (PNG, or the
  format its extension names); returns `path`."""
  return files.save_figure(build_figure(results), path)


def redraw(output_dir, figure_names=None, say=None):
  """Rewrites OUTPUT_DIR/FIGURE/figure.png from OUTPUT_DIR/FIGURE/
  results.json for each figure, computing nothing.

  Only a figure.png beside a results.json that apps.reproduce wrote for
  that figure is written. Everything is checked before anything is drawn.

  Args:
    output_dir: an apps.reproduce output directory (or report/cpu).
    figure_names: the figures; None for every figure of
      `pipelines.reproduce.FIGURES` with a results.json there.
    say: callable taking a one-line note (a skipped d4), or None.

  Returns:
    The paths written.

  Raises:
    pipelines.reproduce.ReproduceError: a named figure without
      results.json, a results.json that is not apps.reproduce's of that
      figure, or nothing to redraw.
  """
  from pipelines import reproduce  # pylint: disable=g-import-not-at-top
  say = say or (lambda message: None)
  results_path = lambda name: os.path.join(output_dir, name, 'results.json')
  if figure_names is None:
    figure_names = [name for name in reproduce.FIGURES
                    if os.path.isfile(results_path(name))]
    if not figure_names:
      raise reproduce.ReproduceError(
          f'{output_dir} holds no FIGURE/results.json to redraw.')
  documents = {}
  for name in figure_names:
    path = results_path(name)
    if not os.path.isfile(path):
      raise reproduce.ReproduceError(
          f'{path} not found: --redraw draws a figure from the results.json '
          f'apps.reproduce wrote; run the figure first.')
    try:
      with open(path) as stream:
        document = json.load(stream)
    except (OSError, ValueError) as error:
      raise reproduce.ReproduceError(
          f'{path} is not readable ({error}).') from None
    if (not isinstance(document, dict) or
        document.get('format') != reproduce.FORMAT or
        document.get('figure') != name):
      raise reproduce.ReproduceError(
          f'{path} is not the results.json apps.reproduce writes for '
          f'{name}; its figure.png is left alone.')
    documents[name] = document
  written = []
  for name, document in documents.items():
    if name in _NOT_DRAWN:
      say(f'{name}: skipped; its reconstructions are not in results.json '
          f'(apps.reproduce draws them while it runs)')
      continue
    written.append(draw_figure(document,
                               os.path.join(output_dir, name, 'figure.png')))
  return written
