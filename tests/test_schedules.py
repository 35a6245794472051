"""Schedules have the properties appendix D.2 states."""

import numpy as np
import pytest

import tfrd


def test_sigmoid_betas_endpoints_monotone_and_crowded_at_ends():
  betas = tfrd.sigmoid_betas(1000, 50.0)
  assert betas.shape == (1001,)
  assert betas[0] == 0.0 and betas[-1] == 50.0
  assert np.all(np.diff(betas) > 0)
  steps = np.diff(betas)
  # The sigmoid spends small steps at both ends and large ones in the middle.
  assert steps[0] < steps[500] / 10 and steps[-1] < steps[500] / 10


def test_linear_betas_even():
  betas = tfrd.linear_betas(10, 5.0)
  np.testing.assert_allclose(np.diff(betas), 0.5)


def test_rd_point_betas_log_spaced_and_contain_one_exactly():
  points = tfrd.rd_point_betas(40, 1000.0)
  assert points.size == 40
  assert points[0] == pytest.approx(1.0 / 12.0) and points[-1] == 1000.0
  assert 1.0 in points.tolist()
  assert np.all(np.diff(points) > 0)
  assert 1.0 not in tfrd.rd_point_betas(5, 1000.0, beta_min=2.0).tolist()
  assert 1.0 not in tfrd.rd_point_betas(
      5, 1000.0, include_beta_one=False).tolist()


def test_paper_construction_fills_before_first_and_between_points():
  rd_betas = tfrd.rd_point_betas(40, 1000.0)
  schedule = tfrd.build_schedule(rd_betas, tfrd.sigmoid_betas(4000, 1000.0),
                                 min_before_first=800, min_between=10)
  betas, rd_indices = schedule.betas, schedule.rd_indices
  assert betas[0] == 0.0 and betas[-1] == 1000.0
  assert np.all(np.diff(betas) > 0)
  np.testing.assert_array_equal(betas[rd_indices], rd_betas)
  assert rd_indices[0] - 1 >= 800
  assert np.all(np.diff(rd_indices) - 1 >= 10)
  # β = 1 is exactly a member, so the NLL point is the log-likelihood.
  assert np.any(betas == 1.0)
  # Where the sigmoid base was already dense enough, it is kept as is.
  base = tfrd.sigmoid_betas(4000, 1000.0)
  top = base[(base > rd_betas[-2]) & (base < rd_betas[-1])]
  assert top.size > 10
  np.testing.assert_array_equal(betas[rd_indices[-2] + 1:rd_indices[-1]], top)


@pytest.mark.parametrize('rd_betas, message', [
    ([1.0, 0.5], 'strictly increasing'),
    ([0.0, 1.0], 'positive'),
    ([1.0, float('nan')], 'positive'),
    ([], 'At least one'),
])
def test_build_schedule_rejects_bad_rd_points(rd_betas, message):
  with pytest.raises(ValueError, match=message):
    tfrd.build_schedule(rd_betas)


@pytest.mark.parametrize('betas, rd_indices, message', [
    ([0.0, 1.0, 1.0, 2.0], [3], 'not strictly increasing'),
    ([0.0, 2.0, 1.0], [2], 'not strictly increasing'),
    ([0.5, 1.0], [1], 'start at beta = 0'),
    ([0.0, 1.0], [2], 'must lie in'),
    ([0.0, 1.0, 2.0], [2, 1], 'strictly increasing'),
])
def test_annealing_schedule_validates(betas, rd_indices, message):
  with pytest.raises(ValueError, match=message):
    tfrd.AnnealingSchedule(betas, rd_indices)
