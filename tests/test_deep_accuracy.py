"""benchmarks.deep_accuracy: the default check's search, as the app runs it,
on a decoder it trains (smoke-sized, as a user runs the benchmark)."""

import json
import os

import pytest

import app_runner  # pylint: disable=g-bad-import-order


@pytest.mark.slow  # trains a model and runs BDMC at three points
def test_quick_run_records_each_attempt_and_reuses_them(tmp_path):
  if not os.environ.get('TFRD_DATA_DIR'):
    pytest.skip('TFRD_DATA_DIR is unset: no MNIST files to train on.')

  def run():
    result = app_runner.run_app('benchmarks.deep_accuracy', '--quick',
                                '--decoders=mlp64', f'--output_dir={tmp_path}')
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / 'deep_accuracy_hessian_thermodynamic.json') as stream:
      (record,) = json.load(stream)['decoders']
    return record, result

  record, result = run()
  assert record['decoder'] == 'mlp64' and record['latent_dim'] == 64
  assert record['mass_matrix'] == 'hessian'  # tfrd's default kernel
  # and schedule, re-spaced by the speed the search measured once.
  assert record['adapt_schedule'] and record['speed']['decoder_gradients'] > 0
  assert record['num_curve_images'] == 20
  attempts = record['attempts']
  assert attempts[0]['num_intermediate'] == 60
  assert record['settled_num_intermediate'] == attempts[-1]['num_intermediate']
  for attempt in attempts:
    assert [p['beta'] for p in attempt['points']][1:] == [1.0, 10.0]
    # Within half the curve's decoder gradients, as the app plans it.
    assert attempt['decoder_gradients'] <= (
        0.5 * attempt['curve_decoder_gradients'])
  # Then the curve on the settled schedule, counted and timed.
  curve = record['curve']
  assert curve['num_images'] == 20
  assert curve['num_intermediate'] == record['settled_num_intermediate']
  assert curve['decoder_gradients'] >= attempts[-1]['curve_decoder_gradients']
  table = (tmp_path / 'deep_accuracy_hessian_thermodynamic.md').read_text(
  ).splitlines()
  assert len(table) == 2 + len(attempts) + 4
  assert table[2].startswith(
      '| mlp64, hessian mass matrix, thermodynamic schedule | 64 |')
  assert table[2] in result.stdout
  # One row per decoder: the verdict, and the cost of a certified curve.
  assert table[-1].startswith(
      '| mlp64, hessian mass matrix, thermodynamic schedule | ')
  assert f'{curve["decoder_gradients"]:.3g}' in table[-1]
  # Run again: the model and the attempts are reused, the numbers the same.
  again, result = run()
  assert again['attempts'] == attempts
  assert 'train:' not in result.stderr
