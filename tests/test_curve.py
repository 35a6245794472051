"""RDCurve survives save/load, and its files have the documented fields."""

import csv
import json
import os

import numpy as np
import pytest

import tfrd


def _curve(is_nll=True):
  rng = np.random.default_rng(0)
  betas = np.array([0.1, 1.0, 10.0])
  log_z = -rng.uniform(1, 5, size=(3, 4))
  distortion = rng.uniform(1, 5, size=(3, 4))
  return tfrd.RDCurve(betas, -log_z - betas[:, None] * distortion, distortion,
                      log_z, rng.uniform(1, 8, size=(3, 4)),
                      image_indices=[5, 6, 7, 8], is_nll=is_nll,
                      config={'seed': 3},
                      run=tfrd.RunRecord(accept_rate=[0.6, 0.65, 0.7],
                                         timing={'wall_time_s': 1.5}))


def test_save_load_round_trip(tmp_path):
  curve = _curve()
  paths = curve.save(str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ['curve.csv', 'curve.json',
                                          'curve.npz', 'curve.png']
  assert set(paths) == {'json', 'csv', 'npz', 'png'}
  loaded = tfrd.RDCurve.load(str(tmp_path))
  for name in ('betas', 'rate_per_image', 'distortion_per_image',
               'log_z_per_image', 'effective_sample_size_per_image',
               'accept_rate', 'image_indices'):
    np.testing.assert_array_equal(getattr(loaded, name), getattr(curve, name))
  assert loaded.config == curve.config and loaded.timing == curve.timing
  assert loaded.log_likelihood == pytest.approx(curve.log_z[1])


def test_json_and_csv_fields(tmp_path):
  curve = _curve()
  curve.save(str(tmp_path), plot=False)
  with open(tmp_path / 'curve.json') as stream:
    document = json.load(stream)
  assert document['format'] == 'tfrd.rd_curve/1'
  assert {'config', 'timing', 'points', 'log_likelihood'} <= set(document)
  point = document['points'][1]
  assert point['beta'] == 1.0
  assert point['rate'] == pytest.approx(curve.rate[1])
  assert point['distortion'] == pytest.approx(curve.distortion[1])
  assert point['log_z'] == pytest.approx(curve.log_z[1])
  assert point['rate_stderr'] == pytest.approx(
      curve.rate_per_image[1].std(ddof=1) / 2)
  with open(tmp_path / 'curve.csv') as stream:
    rows = list(csv.DictReader(stream))
  assert len(rows) == 3
  assert float(rows[2]['rate']) == pytest.approx(curve.rate[2])
  # Without the npz the means still load, as one pseudo-image.
  os.remove(tmp_path / 'curve.npz')
  means = tfrd.RDCurve.load(str(tmp_path / 'curve.json'))
  np.testing.assert_allclose(means.rate, curve.rate)
  np.testing.assert_allclose(means.distortion, curve.distortion)


def test_run_record_fields_are_attributes_and_stay_out_of_the_files(
    tmp_path):
  table, latents = np.full([2, 8], 0.1), np.zeros([3, 4, 2], np.float32)
  record = tfrd.RunRecord(accept_rate=[0.6, 0.65, 0.7],
                          timing={'ais_total_s': 2.0}, step_size_table=table,
                          latents=latents)
  curve = tfrd.RDCurve(_curve().betas, np.ones((3, 4)), np.ones((3, 4)),
                       np.ones((3, 4)), run=record)
  np.testing.assert_array_equal(curve.step_size_table, table)
  np.testing.assert_array_equal(curve.latents, latents)
  np.testing.assert_array_equal(curve.accept_rate, [0.6, 0.65, 0.7])
  assert curve.timing == {'ais_total_s': 2.0}
  curve.save(str(tmp_path), plot=False)
  with open(tmp_path / 'curve.json') as stream:
    assert set(json.load(stream)) == {'format', 'points', 'num_images',
                                      'image_indices', 'is_nll', 'config',
                                      'timing'}
  with np.load(tmp_path / 'curve.npz') as arrays:
    assert set(arrays) == {'betas', 'image_indices', 'accept_rate', 'rate',
                           'distortion', 'log_z', 'effective_sample_size'}
  loaded = tfrd.RDCurve.load(str(tmp_path))
  assert loaded.step_size_table is None and loaded.latents is None
  assert loaded.timing == curve.timing
  bare = tfrd.RDCurve([1.0], [1.0], [1.0], [1.0])
  assert bare.step_size_table is None and bare.timing == {}
  assert np.isnan(bare.accept_rate).all()


def test_non_nll_curve_has_no_log_likelihood_and_load_rejects_other_files(
    tmp_path):
  assert _curve(is_nll=False).log_likelihood is None
  (tmp_path / 'curve.json').write_text('{"format": "something/else"}')
  with pytest.raises(ValueError, match='not a tfrd.rd_curve/1'):
    tfrd.RDCurve.load(str(tmp_path))


def test_estimates_follow_eq_14_15():
  log_weights = np.log([[1.0, 3.0], [2.0, 2.0]])
  distortions = np.array([[4.0, 8.0], [1.0, 3.0]])
  estimate = tfrd.estimate_rate_distortion(0.5, log_weights, distortions)
  np.testing.assert_allclose(estimate.log_z, np.log([2.0, 2.0]))
  np.testing.assert_allclose(estimate.distortion, [7.0, 2.0])
  np.testing.assert_allclose(estimate.rate,
                             -np.log([2.0, 2.0]) - 0.5 * np.array([7.0, 2.0]))
  np.testing.assert_allclose(estimate.effective_sample_size, [1.6, 2.0])
  # Weighted variance of d: weights 1/4, 3/4 about 7; 1/2, 1/2 about 2.
  np.testing.assert_allclose(estimate.distortion_variance,
                             [0.25 * 9.0 + 0.75 * 1.0, 1.0])
  # β = 0 (all log-weights zero): rate exactly 0, distortion the plain mean.
  zero = tfrd.estimate_rate_distortion(0.0, np.zeros((1, 3)),
                                       np.array([[1.0, 2.0, 6.0]]))
  assert zero.rate[0] == 0.0 and zero.distortion[0] == pytest.approx(3.0)
  with pytest.raises(ValueError, match='Non-finite'):
    tfrd.estimate_rate_distortion(1.0, np.array([[np.nan, 0.0]]),
                                  np.ones((1, 2)))
