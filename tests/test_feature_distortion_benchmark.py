"""benchmarks.feature_distortion end to end, on a synthetic MNIST file.

Wall-clock figures are never compared with numbers: the tests check the
table's rows, the modes the loops really ran in, and that each ratio is the
quotient of the reported times it names.
"""

import json
import os
import subprocess
import sys

import pytest

import app_runner  # pylint: disable=g-bad-import-order

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TFRD_DATA_DIR', None)
  return subprocess.run(
      [sys.executable, '-m', 'benchmarks.feature_distortion', *args],
      cwd=_ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)


@pytest.mark.slow  # runs benchmarks.feature_distortion end to end
def test_rows_modes_and_ratios(tmp_path):
  data_dir = app_runner.write_mnist_test_images(tmp_path / 'data', 2)
  output = tmp_path / 'out' / 'features.json'
  result = _run('--num_images=2', '--num_chains=2', '--num_transitions=32',
                '--repetitions=1', f'--data_dir={data_dir}',
                f'--json={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  assert lines[0].startswith('shallow MLP decoder, 2 images x 2 chains')
  assert [line.split()[-4] for line in lines[3:]] == [
      'XLA', 'graph', 'XLA', 'graph']

  with open(output) as stream:
    document = json.load(stream)
  assert document['settings']['num_transitions'] == 32
  rows = document['results']
  assert [(r['distortion'], r['mode'], r['jit_compiled']) for r in rows] == [
      ('squared error', 'XLA', True), ('squared error', 'graph', False),
      ('deep features', 'XLA', True), ('deep features', 'graph', False)]
  seconds = {(r['distortion'], r['mode']): r['seconds_per_transition']
             for r in rows}
  for row in rows:
    assert row['seconds_per_transition'] == pytest.approx(
        min(row['repetition_seconds']) / 32)
    assert row['of_xla'] == pytest.approx(
        row['seconds_per_transition'] / seconds[(row['distortion'], 'XLA')])
    assert row['of_squared_error'] == pytest.approx(
        row['seconds_per_transition'] /
        seconds[('squared error', row['mode'])])
    assert row['batch_rows'] == 4


@pytest.mark.slow  # starts the benchmark, which loads TensorFlow
def test_existing_json_refused_before_any_work(tmp_path):
  output = tmp_path / 'mine.json'
  output.write_text('a user file')
  result = _run(f'--data_dir={tmp_path / "nowhere"}', f'--json={output}')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f'feature_distortion: error: --json={output} already exists; give a '
      f'new path (nothing is replaced).')
  assert output.read_text() == 'a user file'
