"""benchmarks.accuracy_study end to end, at smoke size on a synthetic decoder."""

import json
import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quick_study_orders_the_settings_as_the_full_one(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'benchmarks.accuracy_study', '--quick',
       '--data=synthetic', '--studies=schedule,leapfrog', '--num_images=4',
       # The ordering that chose the defaults' L and schedule, on plain HMC.
       '--mass_matrix=identity',
       f'--output_dir={tmp_path}'],
      cwd=_ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert '### schedule' in result.stdout and '### leapfrog' in result.stdout
  with open(tmp_path / 'accuracy_study.json') as stream:
    document = json.load(stream)
  assert os.path.getsize(tmp_path / 'accuracy_study.png') > 0
  top = repr(float(document['points'][-1]))
  gaps = {(row['study'], row['label']): row['points'][top]
          for row in document['rows']}
  assert set(gaps) == {('schedule', 'n=50'), ('schedule', 'n=200'),
                       ('leapfrog', 'L=2'), ('leapfrog', 'L=10')}
  # The exact log Z lies between the bounds (up to noise) on a short run.
  for point in gaps.values():
    assert point['lower_error'] < 0.5 and point['upper_error'] > -0.5
    # Each point is the one BDMC record (pipelines.bdmc_points.point_record).
    assert point['mean_gap'] == pytest.approx(
        point['mean_upper'] - point['mean_lower'])
    assert point['max_gap'] >= point['mean_gap'] and point['num_images'] == 4
    assert point['beta'] == float(document['points'][-1])
  # A 4x longer schedule, and at equal gradients L = 2 rather than 10, cut
  # the gap at beta = 1000 by far more than its noise.
  assert (gaps['schedule', 'n=200']['mean_gap'] <
          0.2 * gaps['schedule', 'n=50']['mean_gap'])
  assert (gaps['leapfrog', 'L=2']['mean_gap'] <
          0.2 * gaps['leapfrog', 'L=10']['mean_gap'])
