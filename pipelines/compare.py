"""Comparing the rate-prior distortion curves of several runs.

Why a module: `apps.compare` compares the runs a user names; `apps.reproduce`
(`pipelines.reproduce`) draws every figure of the paper with the same
figure; users' scripts call the same functions. The rules live here once:

- a run is a directory written by `apps.rd_curve` (its curve.json) or the
  path of a curve.json; its BDMC gaps are the `bdmc` field of curve.json
  and the points of an `apps.bdmc` bdmc.json in the run's directory, both
  records of one schema (`tfrd.accuracy.point_record`), read
  without translation;
- runs are compared only when they measure the same thing: the same
  distortion (name and parameters) on the same data (dataset, split or
  file, and image indices), as recorded in their curve.json; anything else
  is refused before anything is drawn (`check_comparable`);
- the table reads each curve where it first reaches a value
  (`pipelines.curves`, the rule apps.findings judges the paper's claims
  with), '-' where a curve does not reach it.

Reading runs loads no TensorFlow: only tfrd's NumPy result class and
matplotlib.
"""

import collections
import dataclasses
import json
import os
import sys

import numpy as np

from pipelines import curves
from pipelines import output_files

__all__ = ['BDMC_FORMAT', 'Run', 'load_run', 'load_runs', 'default_labels',
           'describe_distortion', 'data_identity', 'describe_data',
           'check_comparable', 'shared_values', 'comparison_table',
           'format_table', 'draw', 'CompareSettings', 'compare_runs']

# bdmc.json's format, `pipelines.bdmc_points.FORMAT`: spelled here so that
# reading a run loads no TensorFlow (tests/test_compare.py checks that they
# agree).
BDMC_FORMAT = 'tfrd.bdmc/2'
# Formats of bdmc.json that older tfrd versions wrote (their points named
# the gaps `gap` and `gap_max`).
_OLD_BDMC_FORMATS = ('tfrd.bdmc/1',)


class Run(collections.namedtuple('Run', ['label', 'path', 'curve', 'document',
                                         'bdmc'])):
  """One run to compare.

  Attributes:
    label: its name in the legend and the table.
    path: the path the user gave.
    curve: the `tfrd.RDCurve`, with `bdmc` set to `bdmc`.
    document: the parsed curve.json.
    bdmc: list of BDMC point records (`beta`, `mean_gap`, `max_gap`,
      `gap_stderr`, `mean_lower`, `mean_upper`, ...: the schema of
      `tfrd.accuracy.point_record`), each with `source`
      ('curve.json' or 'bdmc.json'), sorted by beta.
  """
  __slots__ = ()


def _json_path(path):
  """The curve.json of a run given as a directory or a file.

  Raises:
    ValueError: if there is no such run.
  """
  if os.path.isdir(path):
    json_path = os.path.join(path, 'curve.json')
    if not os.path.isfile(json_path):
      raise ValueError(f'{path} holds no curve.json: give an output directory '
                       f'of apps.rd_curve or a curve.json file.')
    return json_path
  if not os.path.exists(path):
    raise ValueError(f'Run {path} not found: give an output directory of '
                     f'apps.rd_curve or a curve.json file.')
  return path


def _read_json(path):
  try:
    with open(path) as stream:
      return json.load(stream)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    raise ValueError(f'Cannot read {path}: {error}.') from None


def _bdmc_points(points, source):
  """BDMC point records (`tfrd.accuracy.point_record`), each marked
  with the file it came from."""
  return [dict(point, beta=float(point['beta']), source=source)
          for point in points or []]


def _bdmc_from_file(bdmc_path, distortion):
  """The points of an apps.bdmc bdmc.json, checked against the curve's
  distortion (gaps of another distortion say nothing about this curve).

  Raises:
    ValueError: for a bdmc.json of another format (one written by an older
      tfrd says to run apps.bdmc again) or of another distortion.
  """
  document = _read_json(bdmc_path)
  found = document.get('format')
  if found in _OLD_BDMC_FORMATS:
    raise ValueError(
        f'{bdmc_path} was written by an older tfrd ({found}); run '
        f'apps.bdmc again to rewrite it as {BDMC_FORMAT}, or move it out of '
        f'the run directory.')
  if found != BDMC_FORMAT:
    raise ValueError(f'{bdmc_path} is not a {BDMC_FORMAT} file '
                     f'(format={found!r}).')
  measured = (document.get('config') or {}).get('distortion')
  if measured != distortion:
    raise ValueError(
        f'{bdmc_path} holds BDMC gaps of the distortion '
        f'{describe_distortion(measured)} but its curve uses '
        f'{describe_distortion(distortion)}; move it out of the run '
        f'directory.')
  return _bdmc_points(document.get('points'), 'bdmc.json')


def load_run(path, label):
  """Loads one run: its curve and its BDMC gaps.

  Args:
    path: a directory holding curve.json, or a curve.json file.
    label: the run's label.

  Returns:
    A `Run`.

  Raises:
    ValueError: for a missing or unreadable run.
  """
  from tfrd import curve as curve_lib  # pylint: disable=g-import-not-at-top
  json_path = _json_path(path)
  document = _read_json(json_path)
  try:
    curve = curve_lib.RDCurve.load(json_path)
    bdmc = _bdmc_points(document.get('bdmc'), 'curve.json')
  except (KeyError, TypeError) as error:
    raise ValueError(f'{json_path} is not a complete curve.json (missing '
                     f'{error}).') from None
  bdmc_path = os.path.join(os.path.dirname(json_path), 'bdmc.json')
  if os.path.isfile(bdmc_path):
    # curve.json's own gaps were measured on this curve's schedule: they win
    # over an apps.bdmc run at the same beta.
    known = {point['beta'] for point in bdmc}
    bdmc += [point for point in _bdmc_from_file(
        bdmc_path, (document.get('config') or {}).get('distortion'))
             if point['beta'] not in known]
  bdmc.sort(key=lambda point: point['beta'])
  curve.bdmc = bdmc or None
  return Run(label, path, curve, document, bdmc)


def default_labels(paths):
  """The run directory names; longer path tails where they would clash."""
  directories = [os.path.normpath(os.path.abspath(
      path if os.path.isdir(path) else os.path.dirname(path) or '.'))
                 for path in paths]
  for depth in range(1, 1 + max(d.count(os.sep) for d in directories)):
    labels = [os.sep.join(d.split(os.sep)[-depth:]) for d in directories]
    if len(set(labels)) == len(labels):
      return labels
  return [str(index + 1) for index in range(len(paths))]


def load_runs(paths, labels=None):
  """Loads and checks the runs to compare.

  Args:
    paths: run directories or curve.json files.
    labels: one label per run, or None for `default_labels`.

  Returns:
    A list of `Run`s, in the order given.

  Raises:
    ValueError: for fewer than one run, a wrong number of or repeated
      labels, a missing run, or runs that differ in distortion or data.
  """
  if not paths:
    raise ValueError('Give the runs to compare: output directories of '
                     'apps.rd_curve or curve.json files.')
  if labels is None:
    labels = default_labels(paths)
  elif len(labels) != len(paths):
    raise ValueError(f'--labels gives {len(labels)} label'
                     f'{"" if len(labels) == 1 else "s"} for {len(paths)} '
                     f'run{"" if len(paths) == 1 else "s"}; give one per run.')
  repeated = sorted({label for label in labels if labels.count(label) > 1})
  if repeated:
    raise ValueError(f'--labels repeats {", ".join(repeated)}; the legend '
                     f'and table need one label per run.')
  for path in paths:  # Every missing run is reported before any is parsed.
    _json_path(path)
  runs = [load_run(path, label) for path, label in zip(paths, labels)]
  check_comparable(runs)
  return runs


def describe_distortion(config):
  """'gaussian_nll(scale=0.5)' for a distortion's recorded config."""
  if not config:
    return 'an unrecorded distortion'
  parameters = ', '.join(f'{key}={value}' for key, value in config.items()
                         if key != 'name')
  return f'{config.get("name")}({parameters})' if parameters else str(
      config.get('name'))


def data_identity(document):
  """What identifies the data of a run: dataset, split or file, images."""
  dataset = (document.get('config') or {}).get('dataset') or {}
  return {'dataset': dataset.get('name'), 'split': dataset.get('split'),
          'path': dataset.get('path'),
          'image_indices': list(document.get('image_indices') or [])}


def describe_data(identity):
  """'mnist test images 0-19' for a `data_identity`."""
  indices = identity['image_indices']
  if not indices:
    shown = 'no recorded images'
  elif indices == list(range(indices[0], indices[0] + len(indices))):
    shown = f'images {indices[0]}-{indices[-1]}'
  else:
    shown = (f'{len(indices)} images [' +
             ', '.join(str(i) for i in indices[:4]) +
             (', ...]' if len(indices) > 4 else ']'))
  source = identity['path'] or ' '.join(
      str(part) for part in (identity['dataset'] or 'an unrecorded dataset',
                             identity['split']) if part)
  return f'{source} {shown}'


def check_comparable(runs):
  """Refuses runs whose curves do not measure the same thing.

  Raises:
    ValueError: naming the first run that differs from the first run, if the
      distortions (name and parameters) or the data (dataset, split or file,
      image indices) differ.
  """
  first = runs[0]
  first_distortion = (first.document.get('config') or {}).get('distortion')
  first_data = data_identity(first.document)
  for run in runs[1:]:
    distortion = (run.document.get('config') or {}).get('distortion')
    if distortion != first_distortion:
      raise ValueError(
          f'The runs use different distortions: {first.label} '
          f'{describe_distortion(first_distortion)}, {run.label} '
          f'{describe_distortion(distortion)}; their curves are in different '
          f'units and cannot be compared.')
    data = data_identity(run.document)
    if data != first_data:
      raise ValueError(
          f'The runs evaluate different data: {first.label} on '
          f'{describe_data(first_data)}, {run.label} on '
          f'{describe_data(data)}; compare runs on the same images.')


def shared_values(arrays, count):
  """`count` values spread inside the range every array covers.

  Evenly spaced, or geometrically when the range is positive and spans more
  than two decades (distortions often do); the ends are left out, where the
  curves are at their noisiest. Without a common range, the union's range is
  used (some runs then get '-').

  Returns:
    A float array.
  """
  finite = [a[np.isfinite(a)] for a in map(np.asarray, arrays)]
  finite = [a for a in finite if a.size]
  if not finite or count < 1:
    return np.array([])
  low = max(a.min() for a in finite)
  high = min(a.max() for a in finite)
  if low > high:
    low, high = min(a.min() for a in finite), max(a.max() for a in finite)
  if low == high:
    return np.array([low])
  if low > 0 and high / low > 100:
    return np.geomspace(low, high, count + 2)[1:-1]
  return np.linspace(low, high, count + 2)[1:-1]


def comparison_table(runs, at_distortions=None, at_rates=None, count=5):
  """The curves side by side.

  Args:
    runs: `Run`s.
    at_distortions: distortions at which to read each rate; `shared_values`
      of the runs' distortions if None.
    at_rates: rates at which to read each distortion; likewise.
    count: values of each default list.

  Returns:
    Dict with 'at_distortions' and 'at_rates', each a list of
    (value, [result per run or None]).
  """
  if at_distortions is None:
    at_distortions = shared_values([r.curve.distortion for r in runs], count)
  if at_rates is None:
    at_rates = shared_values([r.curve.rate for r in runs], count)
  return {
      'at_distortions': [
          (float(d), [curves.value_where(r.curve.distortion, r.curve.rate, d)
                      for r in runs]) for d in at_distortions],
      'at_rates': [
          (float(rate), [_distortion_at_rate(r.curve, rate) for r in runs])
          for rate in at_rates],
  }


def _distortion_at_rate(curve, rate):
  reading = curves.distortion_at_rate(curve.rate, curve.distortion, rate)
  return None if reading is None else reading.value


def format_table(runs, table):
  """The text `comparison_table` prints: two tables and the BDMC gaps."""
  width = max([12] + [len(run.label) + 2 for run in runs])
  cell = lambda value: ('-' if value is None else f'{value:.6g}').rjust(width)
  lines = []
  for key, title, first_column in (
      ('at_distortions', 'rate R (nats per image) at shared distortions',
       'distortion'),
      ('at_rates', 'distortion D (per image) at shared rates', 'rate')):
    lines.append(title + ':')
    lines.append(first_column.rjust(width) + ''.join(
        run.label.rjust(width) for run in runs))
    for value, results in table[key]:
      lines.append(cell(value) + ''.join(cell(result) for result in results))
    lines.append('')
  for run in runs:
    if run.bdmc:
      gaps = ', '.join(
          f'beta {point["beta"]:.4g}: {point["mean_gap"]:.4g} nats'
          for point in run.bdmc if point['mean_gap'] is not None)
      lines.append(f'BDMC gaps of {run.label}: {gaps}')
  return '\n'.join(lines).rstrip('\n') + '\n'


def draw(runs, title=None):
  """The comparison figure (`tfrd.plotting.curves_figure`) of the runs."""
  from tfrd import plotting  # pylint: disable=g-import-not-at-top
  return plotting.curves_figure({run.label: run.curve for run in runs},
                                title=title)


@dataclasses.dataclass(frozen=True)
class CompareSettings:
  """What `compare_runs` compares and where it draws.

  Attributes:
    paths: the runs, apps.rd_curve output directories or curve.json files.
    output: the figure file: PNG, or the format its extension names (.pdf,
      .svg, ...).
    labels: one label per run in the order given, or None for the names of
      the run directories (`default_labels`).
    overwrite: whether an existing `output` may be replaced.
    at_distortions: distortions at which to tabulate every run's rate, or
      None for `num_table_points` values all runs reach (`shared_values`).
    at_rates: rates (nats per image) at which to tabulate every run's
      distortion, or None likewise.
    num_table_points: rows of each table whose values are not given.
    title: the figure's title, or None.
  """
  paths: tuple
  output: str
  labels: tuple = None
  overwrite: bool = False
  at_distortions: tuple = None
  at_rates: tuple = None
  num_table_points: int = 5
  title: str = None


def compare_runs(settings, stream=None):
  """Checks everything, then draws the figure and prints the table.

  Args:
    settings: a `CompareSettings`.
    stream: where the table goes (stdout by default).

  Returns:
    The `Run`s.

  Raises:
    ValueError: for anything refused (see `load_runs`,
      `output_files.OutputFiles`), before anything is drawn.
  """
  output = settings.output
  if not output:
    raise ValueError('--output is required: the figure file to write, e.g. '
                     '--output=comparison.png.')
  if settings.num_table_points < 1:
    raise ValueError(f'--num_table_points must be positive, got '
                     f'{settings.num_table_points}.')
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top
  file_format = os.path.splitext(output)[1].lstrip('.').lower() or 'png'
  if file_format not in backend_agg.FigureCanvasAgg.get_supported_filetypes():
    raise ValueError(f'--output={output}: matplotlib cannot write .'
                     f'{file_format} figures; use .png, .pdf or .svg.')
  labels = None if settings.labels is None else list(settings.labels)
  runs = load_runs(list(settings.paths), labels)
  outputs = output_files.OutputFiles(
      'compare', os.path.dirname(output) or '.', (os.path.basename(output),),
      overwrite=settings.overwrite, flag='--output')
  outputs.prepare()
  from tfrd import files  # pylint: disable=g-import-not-at-top
  # prepare() creates nothing (a refused run leaves no directory behind);
  # the figure is the run's first and only file.
  os.makedirs(outputs.directory, exist_ok=True)
  files.save_figure(draw(runs, settings.title),
                    outputs.path(os.path.basename(output)))
  table = comparison_table(runs, settings.at_distortions, settings.at_rates,
                           settings.num_table_points)
  (stream or sys.stdout).write(format_table(runs, table))
  sys.stderr.write(f'compare: wrote {output}\n')
  return runs
