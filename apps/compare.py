r"""Compares the rate-prior distortion curves of several runs.

    python -m apps.compare runs/vae runs/gan --labels=VAE,GAN \
        --output=vae_vs_gan.png

Each run is a directory written by `apps.rd_curve` (its curve.json, and
curve.npz when present), or the path of a curve.json itself. Writes one
figure, --output, with two panels: rate against distortion, and rate against
the inverse temperature β (log-scaled). BDMC gaps are drawn as error bars
reaching the gap below the AIS rate, for runs that have them: the `bdmc`
field of curve.json (`apps.rd_curve --bdmc_points`) and a bdmc.json of
`apps.bdmc` in the run's directory.

Prints to stdout the curves side by side: the rate of every run at a few
shared distortions and the distortion at a few shared rates, interpolated
linearly along each curve; '-' where a curve does not reach the value.

Runs are compared only when they measure the same thing: the same
distortion (name and parameters) on the same data (dataset, split or file,
and image indices), as recorded in their curve.json. Anything else is refused
with one line on stderr and exit status 2 before anything is drawn.
"""

import collections
import json
import os
import sys

from absl import flags
from absl import logging
import numpy as np

from apps import output_flags
from pipelines import jobs
from pipelines import output_files

FLAGS = flags.FLAGS

BDMC_FORMAT = 'tfrd.bdmc/1'


def define_flags():
  """Defines the app's flags.

  Called only when the module runs as the program: the functions below are
  importable next to other apps (tests), whose flags --overwrite shares.
  """
  flags.DEFINE_string(
      'output', None,
      'The figure to write: PNG, or the format its extension names (.pdf, '
      '.svg, ...). Required. An existing file is refused unless --overwrite.')
  flags.DEFINE_list(
      'labels', None,
      'Legend and table labels, one per run in the order given, e.g. VAE,GAN '
      '(default: the names of the run directories).')
  flags.DEFINE_list(
      'at_distortions', None,
      'Distortions at which to tabulate every run\'s rate (default: '
      '--num_table_points values spread over the range all runs cover).')
  flags.DEFINE_list(
      'at_rates', None,
      'Rates (nats per image) at which to tabulate every run\'s distortion '
      '(default: --num_table_points values spread over the range all runs '
      'cover).')
  flags.DEFINE_integer('num_table_points', 5,
                       'Rows of each table when its values are not given.')
  flags.DEFINE_string('title', None, 'Figure title.')
  output_flags.define_overwrite_flag()


class Run(collections.namedtuple('Run', ['label', 'path', 'curve', 'document',
                                         'bdmc'])):
  """One run to compare.

  Attributes:
    label: its name in the legend and the table.
    path: the path the user gave.
    curve: the `tfrd.RDCurve`, with `bdmc` set to `bdmc`.
    document: the parsed curve.json.
    bdmc: list of dicts (`beta`, `mean_gap`, `gap_stderr`, `max_gap`,
      `source`), one per BDMC point, from curve.json and bdmc.json.
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


def _bdmc_from_curve(document):
  return [{'beta': float(point['beta']), 'mean_gap': point.get('mean_gap'),
           'gap_stderr': point.get('gap_stderr'),
           'max_gap': point.get('max_gap'), 'source': 'curve.json'}
          for point in document.get('bdmc') or []]


def _bdmc_from_file(bdmc_path, distortion):
  """The points of an apps.bdmc bdmc.json, checked against the curve's
  distortion (gaps of another distortion say nothing about this curve)."""
  document = _read_json(bdmc_path)
  if document.get('format') != BDMC_FORMAT:
    raise ValueError(f'{bdmc_path} is not a {BDMC_FORMAT} file '
                     f'(format={document.get("format")!r}).')
  measured = (document.get('config') or {}).get('distortion')
  if measured != distortion:
    raise ValueError(
        f'{bdmc_path} holds BDMC gaps of the distortion '
        f'{describe_distortion(measured)} but its curve uses '
        f'{describe_distortion(distortion)}; move it out of the run '
        f'directory.')
  return [{'beta': float(point['beta']), 'mean_gap': point.get('gap'),
           'gap_stderr': point.get('gap_stderr'),
           'max_gap': point.get('gap_max'), 'source': 'bdmc.json'}
          for point in document.get('points') or []]


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
  import tfrd  # pylint: disable=g-import-not-at-top  (TF: only once needed)
  json_path = _json_path(path)
  document = _read_json(json_path)
  try:
    curve = tfrd.RDCurve.load(json_path)
    bdmc = _bdmc_from_curve(document)
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


def interpolate_along(xs, ys, query):
  """y where the polyline through (xs, ys), in its order, first reaches x.

  The curves are traced in β order, so this is interpolation along the curve
  (for a monotone curve the same as interpolating y as a function of x).

  Args:
    xs, ys: the points, in order (non-finite ones are skipped).
    query: the x to reach.

  Returns:
    The interpolated y, or None if the curve does not reach `query`.
  """
  xs = np.asarray(xs, dtype=np.float64)
  ys = np.asarray(ys, dtype=np.float64)
  keep = np.isfinite(xs) & np.isfinite(ys)
  xs, ys = xs[keep], ys[keep]
  for i in range(xs.size - 1):
    low, high = sorted((xs[i], xs[i + 1]))
    if low <= query <= high:
      if high == low:
        return float(ys[i])
      weight = (query - xs[i]) / (xs[i + 1] - xs[i])
      return float(ys[i] + weight * (ys[i + 1] - ys[i]))
  if xs.size == 1 and xs[0] == query:
    return float(ys[0])
  return None


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
          (float(d), [interpolate_along(r.curve.distortion, r.curve.rate, d)
                      for r in runs]) for d in at_distortions],
      'at_rates': [
          (float(rate), [interpolate_along(r.curve.rate, r.curve.distortion,
                                           rate) for r in runs])
          for rate in at_rates],
  }


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


def _numbers(values, flag):
  if values is None:
    return None
  try:
    numbers = [float(value) for value in values]
  except ValueError:
    raise ValueError(f'{flag} must be numbers, got {",".join(values)}.'
                     ) from None
  if not all(np.isfinite(numbers)):
    raise ValueError(f'{flag} must be finite, got {",".join(values)}.')
  return numbers


def run(paths, output, labels=None, overwrite=False, at_distortions=None,
        at_rates=None, num_table_points=5, title=None, stream=None):
  """Checks everything, then draws the figure and prints the table.

  Args:
    paths: run directories or curve.json files.
    output: the figure file.
    labels: one label per run, or None for the directory names.
    overwrite: whether an existing `output` may be replaced.
    at_distortions, at_rates: lists of number strings, or None.
    num_table_points: rows of each default table.
    title: optional figure title.
    stream: where the table goes (stdout by default).

  Returns:
    The `Run`s.

  Raises:
    ValueError: for anything refused (see `load_runs`,
      `output_files.OutputFiles`), before anything is drawn.
  """
  if not output:
    raise ValueError('--output is required: the figure file to write, e.g. '
                     '--output=comparison.png.')
  at_distortions = _numbers(at_distortions, '--at_distortions')
  at_rates = _numbers(at_rates, '--at_rates')
  if num_table_points < 1:
    raise ValueError(f'--num_table_points must be positive, got '
                     f'{num_table_points}.')
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top
  file_format = os.path.splitext(output)[1].lstrip('.').lower() or 'png'
  if file_format not in backend_agg.FigureCanvasAgg.get_supported_filetypes():
    raise ValueError(f'--output={output}: matplotlib cannot write .'
                     f'{file_format} figures; use .png, .pdf or .svg.')
  runs = load_runs(paths, labels)
  outputs = output_files.OutputFiles(
      'compare', os.path.dirname(output) or '.', (os.path.basename(output),),
      overwrite=overwrite, flag='--output')
  outputs.prepare()
  from tfrd import files  # pylint: disable=g-import-not-at-top
  files.save_figure(draw(runs, title), outputs.path(os.path.basename(output)))
  table = comparison_table(runs, at_distortions, at_rates, num_table_points)
  (stream or sys.stdout).write(format_table(runs, table))
  sys.stderr.write(f'compare: wrote {output}\n')
  return runs


def main(argv):
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  return jobs.run_job(
      'compare', lambda: run(
          argv[1:], FLAGS.output, labels=FLAGS.labels,
          overwrite=FLAGS.overwrite, at_distortions=FLAGS.at_distortions,
          at_rates=FLAGS.at_rates, num_table_points=FLAGS.num_table_points,
          title=FLAGS.title),
      (ValueError, OSError))


def console_main():
  define_flags()
  jobs.run(main)


if __name__ == '__main__':
  console_main()
