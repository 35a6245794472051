"""pipelines.compare and apps.compare: several curve.json runs in one
figure and one table."""

import json
import os
import subprocess
import sys

from matplotlib import container
import numpy as np
import pytest

from apps import compare as compare_app
from pipelines import compare
from pipelines import curves
import tfrd

import app_runner  # pylint: disable=g-bad-import-order

BETAS = np.array([0.0, 0.1, 1.0, 10.0, 100.0])


def _save_run(directory, rates, distortions, distortion=None, dataset=None,
              image_indices=(0, 1, 2), bdmc=None):
  """A curve.json run made of numbers (no AIS), as apps.rd_curve writes it.

  Per-image values spread around the given means, which are what the curve
  plots and tabulates.
  """
  spread = np.linspace(-0.3, 0.3, len(image_indices))
  rate = np.asarray(rates)[:, None] + spread
  distortion_per_image = np.asarray(distortions)[:, None] - spread
  curve = tfrd.RDCurve(
      BETAS, rate, distortion_per_image, -rate - distortion_per_image,
      image_indices=image_indices,
      config={'distortion': distortion or {'name': 'mse'},
              'dataset': dataset or {'name': 'mnist', 'spec': 'mnist',
                                     'split': 'test', 'offset': 0,
                                     'num_images': len(image_indices)}},
      bdmc=bdmc)
  curve.save(str(directory), plot=False)
  return str(directory)


RATES = {
    'a': [0.0, 2.0, 10.0, 30.0, 55.0],
    'b': [0.0, 1.0, 6.0, 25.0, 60.0],
    'c': [0.0, 3.0, 12.0, 28.0, 40.0],
}
DISTORTIONS = {
    'a': [50.0, 40.0, 20.0, 5.0, 1.0],
    'b': [52.0, 45.0, 30.0, 8.0, 0.5],
    'c': [48.0, 35.0, 15.0, 6.0, 2.0],
}
GAPS = [{'beta': 1.0, 'mean_gap': 0.8, 'max_gap': 1.5, 'gap_stderr': 0.1,
         'mean_lower': -20.0, 'mean_upper': -19.2, 'num_images': 3,
         'settings': {'num_chains': 4}},
        {'beta': 3.0, 'mean_gap': 2.0, 'max_gap': 3.0, 'gap_stderr': 0.2,
         'mean_lower': -30.0, 'mean_upper': -28.0, 'num_images': 3,
         'settings': {'num_chains': 4}}]


@pytest.fixture()
def runs(tmp_path):
  return {name: _save_run(tmp_path / f'run_{name}', RATES[name],
                          DISTORTIONS[name],
                          bdmc=GAPS if name == 'c' else None)
          for name in RATES}


def _expected(xs, ys, query):
  """Independent of apps.compare: y on the segment of the monotone curve
  (xs decreasing, ys increasing with β) whose x interval holds `query`."""
  for i in range(len(xs) - 1):
    if xs[i + 1] <= query <= xs[i]:
      t = (xs[i] - query) / (xs[i] - xs[i + 1])
      return ys[i] + t * (ys[i + 1] - ys[i])
  return None


def _parse_table(text, title):
  """{first column value: [cells]} of one printed table."""
  lines = text.splitlines()
  start = lines.index(title + ':') + 2
  rows = {}
  for line in lines[start:]:
    if not line.strip():
      break
    cells = line.split()
    rows[float(cells[0])] = [None if c == '-' else float(c) for c in cells[1:]]
  return rows


def test_end_to_end_figure_and_table(runs, tmp_path):
  output = tmp_path / 'figures' / 'compare.png'
  result = app_runner.run_app(
      'apps.compare', runs['a'], runs['b'],
      os.path.join(runs['c'], 'curve.json'), '--labels=VAE,GAN,AAE',
      f'--output={output}', '--at_distortions=3,10,25,51',
      '--at_rates=5,20')
  assert result.returncode == 0, result.stderr[-3000:]
  assert output.stat().st_size > 10000
  with open(output, 'rb') as stream:
    assert stream.read(8) == b'\x89PNG\r\n\x1a\n'
  lines = result.stdout.splitlines()
  assert lines[1].split() == ['distortion', 'VAE', 'GAN', 'AAE']
  table = _parse_table(result.stdout,
                       'rate R (nats per image) at shared distortions')
  assert sorted(table) == [3.0, 10.0, 25.0, 51.0]
  for distortion, cells in table.items():
    for name, cell in zip('abc', cells):
      expected = _expected(DISTORTIONS[name], RATES[name], distortion)
      if expected is None:
        assert cell is None, (distortion, name)
      else:
        assert cell == pytest.approx(expected, rel=1e-5), (distortion, name)
  # 51 lies beyond curves a (50) and c (48), not b (52): '-' there.
  assert table[51.0][0] is None and table[51.0][2] is None
  assert table[51.0][1] is not None
  by_rate = _parse_table(result.stdout,
                         'distortion D (per image) at shared rates')
  for rate, cells in by_rate.items():
    for name, cell in zip('abc', cells):
      expected = _expected(RATES[name][::-1], DISTORTIONS[name][::-1], rate)
      assert cell == pytest.approx(expected, rel=1e-5), (rate, name)
  assert 'BDMC gaps of AAE: beta 1: 0.8 nats, beta 3: 2 nats' in result.stdout


def test_default_table_values_lie_where_every_curve_reaches(runs):
  loaded = compare.load_runs([runs['a'], runs['b'], runs['c']])
  assert [run.label for run in loaded] == ['run_a', 'run_b', 'run_c']
  table = compare.comparison_table(loaded, count=4)
  assert len(table['at_distortions']) == 4 and len(table['at_rates']) == 4
  # Every curve covers [2, 48] in distortion and [0, 40] in rate.
  for distortion, cells in table['at_distortions']:
    assert 2.0 < distortion < 48.0
    for name, cell in zip('abc', cells):
      assert cell == pytest.approx(
          _expected(DISTORTIONS[name], RATES[name], distortion))
  for rate, cells in table['at_rates']:
    assert 0.0 < rate < 40.0
    assert None not in cells
  text = compare.format_table(loaded, table)
  assert 'run_a' in text.splitlines()[1]


def test_interpolate_along_follows_the_curve_in_order():
  assert curves.value_where([3, 2, 0], [0, 1, 5], 1.0) == 3.0
  assert curves.value_where([3, 2, 0], [0, 1, 5], 3.0) == 0.0
  assert curves.value_where([3, 2, 0], [0, 1, 5], 3.5) is None
  assert curves.value_where([3, np.nan, 0], [0, 1, 6], 1.5) == 3.0


def test_a_dip_in_the_rate_is_read_at_the_first_crossing():
  """Rate 0, 2, 1.9, 3 (AIS noise between close betas): 2.5 is reached on
  the last segment, between the recorded points (1.9, 30) and (3, 10)."""
  rates, distortions = [0.0, 2.0, 1.9, 3.0], [50.0, 31.0, 30.0, 10.0]
  expected = 30.0 + (2.5 - 1.9) / (3.0 - 1.9) * (10.0 - 30.0)
  assert curves.value_where(rates, distortions, 2.5) == pytest.approx(
      expected)
  assert curves.distortion_at_rate(rates, distortions, 2.5).value == (
      pytest.approx(expected))
  # 1.95 is first reached between the first two points.
  assert curves.value_where(rates, distortions, 1.95) == pytest.approx(
      50.0 + 1.95 / 2.0 * (31.0 - 50.0))
  # The table reads the same.
  table_reading = compare.comparison_table(
      [_FakeRun(rates, distortions)], at_distortions=[], at_rates=[2.5])
  assert table_reading['at_rates'][0][1] == [pytest.approx(expected)]


class _FakeRun:
  """What `comparison_table` reads of a run: its curve's points."""

  def __init__(self, rates, distortions):
    self.curve = type('Curve', (), {'rate': np.asarray(rates),
                                    'distortion': np.asarray(distortions)})


def test_error_bars_from_the_bdmc_field(runs):
  loaded = compare.load_runs([runs['a'], runs['c']], ['plain', 'gapped'])
  assert loaded[0].bdmc == [] and loaded[1].curve.bdmc is not None
  figure = compare.draw(loaded)
  rd_axis, beta_axis = figure.axes
  bars = [c for c in rd_axis.containers
          if isinstance(c, container.ErrorbarContainer)]
  assert len(bars) == 1  # only the run with gaps
  line, _, (segments,) = bars[0]
  x, y = line.get_data()
  curve = loaded[1].curve
  # β = 1 is a recorded point: the bar hangs from it and is as long as the gap.
  assert x[0] == pytest.approx(curve.distortion[2])
  assert y[0] == pytest.approx(curve.rate[2])
  lengths = [s[1][1] - s[0][1] for s in segments.get_segments()]
  assert lengths == pytest.approx([0.8, 2.0])
  assert beta_axis.get_xscale() == 'log'
  assert any(isinstance(c, container.ErrorbarContainer)
             for c in beta_axis.containers)


def _write_bdmc_json(run_dir, points, distortion='mse',
                     bdmc_format=compare.BDMC_FORMAT):
  with open(os.path.join(run_dir, 'bdmc.json'), 'w') as stream:
    json.dump({'format': bdmc_format,
               'config': {'distortion': {'name': distortion}},
               'points': points}, stream)


def test_error_bars_from_a_bdmc_json_beside_the_curve(runs):
  point = dict(GAPS[0], beta=10.0, mean_gap=0.25, max_gap=0.5,
               gap_stderr=0.05)
  _write_bdmc_json(runs['a'], [point])
  (run,) = compare.load_runs([runs['a']])
  # The one schema of curve.json's `bdmc` entries, read as it is.
  assert run.bdmc == [dict(point, source='bdmc.json')]
  bars = [c for c in compare.draw([run]).axes[0].containers
          if isinstance(c, container.ErrorbarContainer)]
  assert len(bars) == 1


def test_bdmc_json_of_another_distortion_is_refused(runs):
  _write_bdmc_json(runs['a'], [], distortion='bernoulli_nll')
  with pytest.raises(ValueError, match='BDMC gaps of the distortion'):
    compare.load_runs([runs['a']])


def test_bdmc_json_of_an_older_tfrd_says_to_rerun_apps_bdmc(runs):
  _write_bdmc_json(runs['a'], [{'beta': 10.0, 'gap': 0.25, 'gap_max': 0.5,
                                'gap_stderr': 0.05}],
                   bdmc_format='tfrd.bdmc/1')
  with pytest.raises(ValueError) as refused:
    compare.load_runs([runs['a']])
  message = str(refused.value)
  assert '\n' not in message
  assert 'written by an older tfrd (tfrd.bdmc/1)' in message
  assert 'run apps.bdmc again' in message


def test_the_bdmc_format_is_the_one_apps_bdmc_writes():
  from pipelines import bdmc_points  # pylint: disable=g-import-not-at-top
  assert compare.BDMC_FORMAT == bdmc_points.FORMAT


@pytest.mark.parametrize('case, message', [
    ('distortion', 'different distortions: run_a mse, run_x '
                   'gaussian_nll(scale=0.5)'),
    ('dataset', 'different data: run_a on mnist test images 0-2, run_x on '
                'cifar10 test images 0-2'),
    ('split', 'different data'),
    ('images', 'different data: run_a on mnist test images 0-2, run_x on '
               'mnist test images 5-7'),
    ('missing', 'not found'),
    ('empty_dir', 'holds no curve.json'),
    ('labels', '--labels gives 1 label for 2 runs'),
    ('repeated_labels', '--labels repeats x'),
])
def test_refusals(runs, tmp_path, case, message):
  other = tmp_path / 'run_x'
  kwargs = {
      'distortion': dict(distortion={'name': 'gaussian_nll', 'scale': 0.5}),
      'dataset': dict(dataset={'name': 'cifar10', 'split': 'test'}),
      'split': dict(dataset={'name': 'mnist', 'split': 'train'}),
      'images': dict(image_indices=(5, 6, 7)),
  }
  labels = None
  if case in kwargs:
    _save_run(other, RATES['b'], DISTORTIONS['b'], **kwargs[case])
  elif case == 'empty_dir':
    other.mkdir()
  elif case in ('labels', 'repeated_labels'):
    other = runs['b']
    labels = ['x'] if case == 'labels' else ['x', 'x']
  with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(
      ')', r'\)').replace('.', r'\.')):
    compare.compare_runs(compare.CompareSettings(
        (runs['a'], str(other)), str(tmp_path / 'out.png'), labels=labels))
  assert not (tmp_path / 'out.png').exists()  # refused before drawing


def test_existing_output_is_refused_unless_overwrite(runs, tmp_path):
  output = tmp_path / 'mine.png'
  output.write_text('the user\'s figure')
  with open(os.devnull, 'w') as devnull:
    with pytest.raises(ValueError, match='already holds mine.png; pass '
                       '--overwrite'):
      compare.compare_runs(compare.CompareSettings(
          (runs['a'], runs['b']), str(output)), stream=devnull)
    assert output.read_text() == 'the user\'s figure'
    compare.compare_runs(compare.CompareSettings(
        (runs['a'], runs['b']), str(output), overwrite=True), stream=devnull)
  assert output.read_bytes()[:4] == b'\x89PNG'


@pytest.mark.parametrize('args, message', [
    (dict(output='x.unknownformat'), 'cannot write .unknownformat'),
    (dict(output=''), '--output is required'),
    (dict(num_table_points=0), '--num_table_points must be positive'),
])
def test_bad_flags_are_refused(runs, tmp_path, args, message):
  kwargs = dict(output=str(tmp_path / 'out.png'))
  kwargs.update(args)
  with pytest.raises(ValueError, match=message):
    compare.compare_runs(compare.CompareSettings((runs['a'],), **kwargs))


@pytest.mark.parametrize('values, message', [
    (['one'], '--at_rates must be numbers, got one.'),
    (['1', 'inf'], '--at_rates must be finite, got 1,inf.'),
])
def test_table_values_must_be_finite_numbers(values, message):
  numbers = compare_app._numbers_from_flag  # pylint: disable=protected-access
  with pytest.raises(ValueError) as refused:
    numbers(values, '--at_rates')
  assert str(refused.value) == message
  assert numbers(['1', '2.5'], '--at_rates') == (1.0, 2.5)


def test_refusal_is_one_line_and_status_2(runs, tmp_path):
  other = _save_run(tmp_path / 'other', RATES['b'], DISTORTIONS['b'],
                    distortion={'name': 'bernoulli_nll'})
  output = tmp_path / 'out.png'
  result = app_runner.run_app('apps.compare', runs['a'], other,
                              f'--output={output}')
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(errors) == 1, result.stderr
  assert errors[0].startswith('compare: error: The runs use different '
                              'distortions')
  assert not output.exists() and result.stdout == ''


def test_help_describes_the_flags():
  result = app_runner.run_app('apps.compare', '--help')
  for flag in ('--output', '--labels', '--[no]overwrite', '--at_distortions',
               '--at_rates'):
    assert flag in result.stdout
  assert 'BDMC gaps' in result.stdout


def test_reading_runs_loads_no_tensorflow(runs):
  """Neither the app nor the comparison of two runs imports TensorFlow."""
  script = ('import sys\n'
            'import apps.compare\n'
            'from pipelines import compare\n'
            'compare.load_runs(sys.argv[1:])\n'
            'print("tensorflow" in sys.modules)\n')
  result = subprocess.run(
      [sys.executable, '-c', script, runs['a'], runs['b']],
      cwd=app_runner.REPO, env=dict(os.environ, PYTHONPATH=app_runner.REPO),
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == 'False'
