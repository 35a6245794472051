"""pipelines.report_figures: every committed figure drawn from its
results.json, the design rules checked on the matplotlib figures, and
apps.reproduce --redraw's pipeline (report_figures.redraw)."""

import copy
import functools
import json
import os
import shutil

from matplotlib import colors
import numpy as np
import pytest

from pipelines import report_figures
from pipelines import reproduce

import app_runner  # pylint: disable=g-bad-import-order

_COMMITTED = os.path.join(app_runner.REPO, 'report', 'cpu')
# lossless is the library's log-likelihood plot (its own test below).
_DRAWN = ('fig3a', 'fig4', 'fig5a', 'fig5b', 'fig6', 'fig7', 'fig8', 'fig9',
          'variants')

pytestmark = pytest.mark.skipif(
    not os.path.isdir(_COMMITTED),
    reason='report/cpu is not in this sandbox (Bazel)')


@functools.lru_cache(maxsize=None)
def _load(name):
  with open(os.path.join(_COMMITTED, name, 'results.json')) as stream:
    return json.load(stream)


def _results(name):
  return copy.deepcopy(_load(name))


@functools.lru_cache(maxsize=None)
def _figure(name):
  """The drawn figure (laid out, so that extents are final)."""
  figure = report_figures.build_figure(_results(name))
  figure.canvas.draw()
  return figure


def _line(figure, label):
  return next(line for axis in figure.axes for line in axis.get_lines()
              if line.get_label().split(',')[0] == label)


@pytest.mark.parametrize('name', _DRAWN)
def test_each_committed_figure_is_drawn(name, tmp_path):
  path = str(tmp_path / 'figure.png')
  assert report_figures.draw_figure(_results(name), path) == path
  with open(path, 'rb') as stream:
    image = stream.read()
  assert image.startswith(b'\x89PNG') and len(image) > 20000
  assert _figure(name)._suptitle.get_text().startswith(f'{name}: ')
  assert '[cpu budget]' in _figure(name)._suptitle.get_text()


@pytest.mark.parametrize('name', _DRAWN)
def test_legends_are_outside_every_axis(name):
  figure = _figure(name)
  legends = list(figure.legends) + [axis.get_legend() for axis in figure.axes
                                    if axis.get_legend() is not None]
  assert legends
  renderer = figure.canvas.get_renderer()
  for legend in legends:
    box = legend.get_window_extent(renderer)
    for axis in figure.axes:
      assert not box.overlaps(axis.get_window_extent(renderer)), name


def test_axis_labels_name_the_distortion_and_the_rate():
  expected = {'fig4': 'squared error summed over 784 pixels',
              'fig5a': 'Gaussian negative log-likelihood (nats per image)',
              'fig6': 'squared error between classifier features'}
  for name, words in expected.items():
    axis = _figure(name).axes[0]
    assert words in axis.get_xlabel(), name
    assert axis.get_ylabel().startswith('rate (nats per image)')
  # fig4's rates span decades: a log axis, and its label says so.
  assert _figure('fig4').axes[0].get_yscale() == 'log'
  assert 'log scale' in _figure('fig4').axes[0].get_ylabel()


def test_rates_spanning_two_decades_take_a_log_axis():
  # fig6's largest rates (270 to 2,500 nats) differ by less than
  # plotting.wants_log_rate's spread, fig8 has one curve; each spans from
  # about 1 nat to hundreds, which a linear axis squashes into its floor.
  for name in ('fig6', 'fig8'):
    rates = np.concatenate([[point['rate'] for point in curve['points']]
                            for curve in _results(name)['curves']])
    assert rates.max() > 100 * rates.min() > 0, name
    assert _figure(name).axes[0].get_yscale() == 'log', name
  # Rates within two decades keep a linear axis.
  narrow = _results('fig6')
  for curve in narrow['curves']:
    curve['points'] = [p for p in curve['points'] if 3.0 <= p['rate'] <= 200]
  assert report_figures.build_figure(narrow).axes[0].get_yscale() == 'linear'


def test_a_family_has_one_colour_in_every_figure():
  for label in ('VAE10', 'GAN-GP10', 'AAE10'):
    seen = {colors.to_rgba(_line(_figure(name), label).get_color())
            for name in ('fig4', 'fig6', 'fig9')}
    assert len(seen) == 1, label
  assert colors.to_rgba(_line(_figure('fig4'), 'VAE10').get_color()) != (
      colors.to_rgba(_line(_figure('fig4'), 'AAE10').get_color()))
  # The code size is the line style.
  assert {_line(_figure('fig4'), f'VAE{size}').get_linestyle()
          for size in (2, 10, 100)} == {':', '--', '-'}


def test_fig3a_colours_code_sizes_and_styles_depths():
  figure = _figure('fig3a')
  shallow, deep = (_line(figure, f'{depth} GAN-GP10')
                   for depth in ('shallow', 'deep'))
  assert shallow.get_color() == deep.get_color()
  assert (shallow.get_linestyle(), deep.get_linestyle()) == ('-', '--')


def test_fig7_draws_the_closed_form_over_hollow_ais_markers():
  figure = _figure('fig7')
  assert len(figure.axes) == 2
  for axis, words in zip(figure.axes, ('squared error',
                                       'Gaussian negative log-likelihood')):
    assert words in axis.get_xlabel()
    ais = next(line for line in axis.get_lines()
               if line.get_label() == 'AIS estimate')
    exact = next(line for line in axis.get_lines()
                 if line.get_label() == 'closed form')
    assert ais.get_markerfacecolor() == 'none' and ais.get_linestyle() in (
        'None', '')
    assert exact.get_zorder() > ais.get_zorder()


def test_fig9_writes_each_gap_on_its_curve():
  results = _results('fig9')
  figure = _figure('fig9')
  assert len(figure.axes) == len(results['curves'])
  for axis, curve in zip(figure.axes, results['curves']):
    texts = [text.get_text() for text in axis.texts]
    for gap in curve['bdmc']:
      assert any(f'{gap["mean_gap"]:.2f} ± ' in text and
                 f'β = {gap["beta"]:g}' in text for text in texts), gap


def test_fig5_magnify_the_low_rates():
  for name in ('fig5a', 'fig5b'):
    whole, low = _figure(name).axes
    assert low.get_ylim() == (0.0, report_figures.LOW_RATE)
    assert whole.get_ylim()[1] > 5 * report_figures.LOW_RATE


def test_fig5a_notes_the_log_likelihoods():
  labels = [text.get_text() for text in _figure('fig5a').legends[0].texts]
  for curve in _results('fig5a')['curves']:
    assert any(f'log p(x) = {curve["log_likelihood"]:.1f}' in label
               for label in labels)


def test_fig8_shows_differences_from_the_preliminary_run():
  figure = _figure('fig8')
  assert len(figure.axes) == 3
  others = len(_results('fig8')['curves']) - 1
  for axis in figure.axes[1:]:
    assert len(axis.get_lines()) == others + 1  # and the zero line
    assert axis.get_xscale() == 'log'


def test_variants_colour_each_variant():
  figure = _figure('variants')
  assert {line.get_color() for line in figure.axes[0].get_lines()} == {
      report_figures.FAMILY_COLOURS[family]
      for family in reproduce.GAN_VARIANTS}


def test_a_curve_hiding_an_identical_one_says_so():
  # The zoo's default f-GAN trains exactly as the GAN: its curve, drawn
  # later, hides the GAN's.
  labels = [line.get_label()
            for line in _figure('variants').axes[0].get_lines()]
  for size in (2, 10, 100):
    assert any(label.startswith(f'f-GAN{size}, same curve as GAN{size}, ')
               for label in labels)
  assert sum('same curve as' in label for label in labels) == 3
  # One point moved: the curves differ and neither label says otherwise.
  results = _results('variants')
  fgan2 = next(c for c in results['curves'] if c['name'] == 'fgan2')
  fgan2['points'][3]['distortion'] += 1e-9
  labels = [line.get_label() for line in
            report_figures.build_figure(results).axes[0].get_lines()]
  assert not any(label.startswith('f-GAN2, same curve') for label in labels)


def test_lossless_writes_the_log_likelihoods(tmp_path):
  lossless = _results('lossless')
  path = report_figures.draw_figure(lossless, str(tmp_path / 'lossless.png'))
  assert os.path.getsize(path) > 10000
  axis = _figure('lossless').axes[0]
  for curve in lossless['curves']:
    at_one = [p['beta'] for p in curve['points']].index(1.0)
    mean = np.mean(curve['per_image']['log_z'][at_one])
    assert f'{mean:.1f}' in [text.get_text() for text in axis.texts]


def test_d4_is_not_drawn_from_results():
  with pytest.raises(ValueError, match='images'):
    report_figures.build_figure({'figure': 'd4', 'curves': [{}]})


def _copy(directory, name, as_name=None):
  os.makedirs(directory / (as_name or name), exist_ok=True)
  shutil.copy(os.path.join(_COMMITTED, name, 'results.json'),
              directory / (as_name or name) / 'results.json')


def test_redraw_rewrites_figures_beside_their_results(tmp_path):
  _copy(tmp_path, 'fig9')
  _copy(tmp_path, 'd4')
  old = tmp_path / 'fig9' / 'figure.png'
  old.write_bytes(b'an old figure')
  notes = []
  written = report_figures.redraw(str(tmp_path), say=notes.append)
  assert written == [str(old)]
  assert old.read_bytes().startswith(b'\x89PNG')
  assert not (tmp_path / 'd4' / 'figure.png').exists()
  assert len(notes) == 1 and notes[0].startswith('d4: skipped')
  assert report_figures.redraw(str(tmp_path), ['fig9']) == [str(old)]


def test_redraw_refuses_what_it_did_not_write(tmp_path):
  _copy(tmp_path, 'fig9')
  with pytest.raises(reproduce.ReproduceError, match='fig4.*not found'):
    report_figures.redraw(str(tmp_path), ['fig9', 'fig4'])
  assert not (tmp_path / 'fig9' / 'figure.png').exists()  # nothing drawn
  _copy(tmp_path, 'fig9', as_name='fig7')  # fig9's results in fig7/
  with pytest.raises(reproduce.ReproduceError, match='not the results.json'):
    report_figures.redraw(str(tmp_path), ['fig7'])
  assert not (tmp_path / 'fig7' / 'figure.png').exists()
  with pytest.raises(reproduce.ReproduceError, match='no FIGURE/results'):
    report_figures.redraw(str(tmp_path / 'empty'))


def test_reproduce_draws_its_figure_from_the_results_document(tmp_path):
  run = reproduce.Run(str(tmp_path), 'cpu')
  os.makedirs(tmp_path / 'fig9')  # as the figure's curves made it
  reproduce._draw(run, reproduce.FIGURES['fig9'], [], _results('fig9'))
  assert os.path.getsize(tmp_path / 'fig9' / 'figure.png') > 20000
  assert 'fig9/figure.png' in run.manifest['files']
