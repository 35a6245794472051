"""Schedules have the properties appendix D.2 states."""

import numpy as np
import pytest

import tfrd
from tfrd import schedules


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


# `schedule_from_settings` against schedules built by hand, the way the
# apps' flags (apps/ais_flags.py) and the figure budgets
# (pipelines/reproduce.py) built them before it existed.
_BY_HAND = {
    'default': (
        tfrd.ScheduleSettings(),
        lambda: tfrd.build_schedule(
            tfrd.rd_point_betas(40, 1000.0),
            tfrd.geometric_betas(5000, 1000.0, 1 / 12), 1000, 10)),
    'paper': (
        tfrd.ScheduleSettings(kind='paper', num_intermediate=4000,
                              num_rd_points=41, rd_spacing='paper',
                              beta_max=1 / 0.0002770224, min_before_first=800),
        lambda: tfrd.build_schedule(
            tfrd.rd_point_betas(41, 1 / 0.0002770224, spacing='paper'),
            tfrd.sigmoid_betas(4000, 1 / 0.0002770224), 800, 10)),
    'sigmoid, no fill': (
        tfrd.ScheduleSettings(kind='sigmoid', num_intermediate=500,
                              num_rd_points=6, beta_max=50.0),
        lambda: tfrd.build_schedule(tfrd.rd_point_betas(6, 50.0),
                                    tfrd.sigmoid_betas(500, 50.0), 0, 0)),
    'linear, no beta = 1': (
        tfrd.ScheduleSettings(kind='linear', num_intermediate=300,
                              num_rd_points=4, beta_min=0.5, beta_max=20.0,
                              include_beta_one=False),
        lambda: tfrd.build_schedule(
            tfrd.rd_point_betas(4, 20.0, 0.5, include_beta_one=False),
            tfrd.linear_betas(300, 20.0), 0, 0)),
    'explicit points': (
        tfrd.ScheduleSettings(num_intermediate=100, rd_betas=[0.5, 2, 8],
                              min_before_first=30, min_between=4),
        # The geometric base starts at the lowest point (at most β_max / 2).
        lambda: tfrd.build_schedule(
            [0.5, 2.0, 8.0], tfrd.geometric_betas(100, 8.0, 0.5), 30, 4)),
    # pipelines/reproduce.py's 'smoke' budget, and its 'cpu' budget with the
    # lowest β scaled for a Gaussian NLL of σ = 0.2
    # (pipelines.reproduce._beta_min_factor).
    'smoke budget': (
        tfrd.ScheduleSettings(num_intermediate=60, num_rd_points=5,
                              beta_max=100.0, min_before_first=20,
                              min_between=3),
        lambda: tfrd.build_schedule(
            tfrd.rd_point_betas(5, 100.0),
            tfrd.geometric_betas(60, 100.0, 1 / 12), 20, 3)),
    'cpu budget, scaled beta_min': (
        tfrd.ScheduleSettings(num_intermediate=5000, num_rd_points=30,
                              beta_min=2 * 0.2**2 / 12, beta_max=1000.0,
                              min_before_first=1000, min_between=10),
        lambda: tfrd.build_schedule(
            tfrd.rd_point_betas(30, 1000.0, beta_min=2 * 0.2**2 / 12),
            tfrd.geometric_betas(5000, 1000.0, 2 * 0.2**2 / 12), 1000, 10)),
}


@pytest.mark.parametrize('name', sorted(_BY_HAND))
def test_schedule_from_settings_matches_the_hand_built_schedule(name):
  settings, by_hand = _BY_HAND[name]
  schedule, expected = tfrd.schedule_from_settings(settings), by_hand()
  np.testing.assert_array_equal(schedule.betas, expected.betas)
  np.testing.assert_array_equal(schedule.rd_indices, expected.rd_indices)


def test_default_schedule_is_the_default_settings_schedule():
  default = tfrd.schedule_from_settings()
  assert default.rd_betas.size == 40 and 1.0 in default.rd_betas.tolist()
  assert default.rd_betas[-1] == 1000.0
  assert default.rd_indices[0] - 1 >= 1000
  assert 5000 < default.num_transitions < 6500


@pytest.mark.parametrize('fields, message', [
    ({'kind': 'cosine'}, 'kind'),
    ({'rd_spacing': 'cubic'}, 'rd_spacing'),
    ({'num_intermediate': 0}, 'num_intermediate'),
    ({'num_rd_points': 2.5}, 'num_rd_points'),
    ({'min_before_first': -1}, 'min_before_first'),
    ({'beta_max': float('inf')}, 'beta_max'),
    ({'beta_min': 0.0}, 'beta_min'),
    ({'rd_betas': []}, 'at least one'),
    ({'rd_betas': [1.0, 0.5]}, 'strictly increasing'),
    ({'rd_betas': [0.0, 1.0]}, 'positive'),
    ({'rd_betas': ['a']}, 'numbers'),
])
def test_schedule_settings_validate(fields, message):
  with pytest.raises(ValueError, match=message):
    tfrd.ScheduleSettings(**fields)
  settings = tfrd.ScheduleSettings(rd_betas=[1, 10])
  assert settings.rd_betas == (1.0, 10.0)
  with pytest.raises(ValueError, match=message):
    settings._replace(**fields)


def _linear_schedule(num_transitions, rd_betas):
  return tfrd.build_schedule(
      rd_betas, tfrd.linear_betas(num_transitions, rd_betas[-1]), 0, 0)


def test_thermodynamic_schedule_keeps_transitions_and_rd_points():
  base = tfrd.schedule_from_settings(tfrd.ScheduleSettings(
      num_intermediate=600, num_rd_points=6, min_before_first=60,
      min_between=4))
  measured = np.geomspace(1e-3, 1000.0, 40)
  variances = 50.0 / (1.0 + measured) ** 1.5
  for share in (0.0, 0.25, 1.0):
    adapted = schedules.thermodynamic_schedule(base, measured, variances,
                                               share)
    assert adapted.num_transitions == base.num_transitions
    np.testing.assert_array_equal(adapted.betas[adapted.rd_indices],
                                  base.betas[base.rd_indices])
    assert np.all(np.diff(adapted.betas) > 0)
  # All of the placement from the base schedule: the base schedule.
  np.testing.assert_allclose(
      schedules.thermodynamic_schedule(base, measured, variances, 1.0).betas,
      base.betas, rtol=1e-12)


def test_equal_length_is_geometric_when_the_speed_falls_as_one_over_beta():
  # Var_β[d] = 1/β² (a d whose log-density scale is set by β alone): every
  # transition covers an equal length of ∫ dβ/β, so the schedule above the
  # first RD point is geometric, and its log-weight variance is the
  # Cauchy–Schwarz optimum Λ²/n over that stretch.
  rd_betas = [1.0, 1000.0]
  base = _linear_schedule(3000, rd_betas)
  measured = np.geomspace(0.5, 2000.0, 200)
  adapted = schedules.thermodynamic_schedule(base, measured, measured ** -2.0)
  above = adapted.betas[adapted.rd_indices[0]:]
  ratios = above[1:] / above[:-1]
  np.testing.assert_allclose(ratios, ratios.mean(), rtol=2e-3)
  count = above.size - 1
  length = np.log(1000.0)
  spent = np.sum(np.diff(above) ** 2 / above[:-1] ** 2)
  assert spent == pytest.approx(length ** 2 / count, rel=0.01)
  # The linear base schedule is far from it.
  assert (schedules.log_weight_variance(base, measured, measured ** -2.0) >
          10 * schedules.log_weight_variance(adapted, measured,
                                             measured ** -2.0))


def test_thermodynamic_schedule_fills_no_hole_where_a_variance_reads_low():
  base = _linear_schedule(400, [10.0])
  measured = np.linspace(0.5, 10.0, 20)
  variances = np.ones(20)
  variances[10] = 0.0  # one measurement low by chance
  adapted = schedules.thermodynamic_schedule(base, measured, variances)
  # Equal speed throughout after the window: a linear schedule, no jump.
  steps = np.diff(adapted.betas)
  assert steps.max() < 1.05 * steps.min()


@pytest.mark.parametrize('measured, variances, share', [
    ([1.0, 0.5], [1.0, 1.0], 0.0),
    ([0.5, 1.0], [1.0, -1.0], 0.0),
    ([0.5, 1.0], [1.0, np.nan], 0.0),
    ([0.5, 1.0], [1.0], 0.0),
    ([0.5, 1.0], [1.0, 1.0], 1.5),
])
def test_thermodynamic_schedule_refuses_bad_measurements(measured, variances,
                                                         share):
  with pytest.raises(ValueError):
    schedules.thermodynamic_schedule(_linear_schedule(10, [1.0]), measured,
                                     variances, share)
