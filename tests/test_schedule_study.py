"""benchmarks.schedule_study: schedules re-spaced by thermodynamic length,
compared by their BDMC gaps on one decoder (smoke-sized, as a user runs it).
"""

import json
import os

import pytest

import app_runner  # pylint: disable=g-bad-import-order


@pytest.mark.slow  # trains a tiny model and runs BDMC on three schedules
def test_quick_run_compares_schedules_of_equal_cost(tmp_path):
  if not os.environ.get('TFRD_DATA_DIR'):
    pytest.skip('TFRD_DATA_DIR is unset: no MNIST files to train on.')
  result = app_runner.run_app('benchmarks.schedule_study', '--quick',
                              '--num_images=2', f'--output_dir={tmp_path}')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'schedule_study_mlp64_5000.json') as stream:
    record = json.load(stream)
  rows = record['rows']
  assert [row['base_share'] for row in rows] == [1.0, 0.25, 0.0]
  # Every schedule has the same transitions: the top point costs the same.
  assert len({row['points'][-1]['decoder_gradients'] for row in rows}) == 1
  for row in rows:
    assert [point['beta'] for point in row['points']] == [1.0, 10.0]
  # Equal length minimizes the equilibrium log-weight variance.
  assert rows[2]['log_weight_variance'] <= rows[0]['log_weight_variance']
  table = (tmp_path / 'schedule_study_mlp64_5000.md').read_text()
  assert table in result.stdout and table.count('\n') == 2 + len(rows)
