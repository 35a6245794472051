"""--preset: the settings users ask for by name; explicit flags still win."""

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest

from apps import ais_flags
from apps import rd_curve  # pylint: disable=unused-import  (defines the flags)
from pipelines import settings as pipeline_settings
import tfrd

FLAGS = flags.FLAGS


def _parse(*args):
  FLAGS.unparse_flags()
  FLAGS(['rd_curve', *args])


@pytest.fixture(autouse=True)
def _restore_flags():
  with flagsaver.flagsaver():
    yield
  FLAGS.unparse_flags()


def test_paper_grid_is_appendix_d2():
  betas = tfrd.rd_point_betas(1999, 1 / 0.0002770224, spacing='paper')
  assert betas.size == 1999
  below, above = betas[betas < 1], betas[betas > 1]
  assert below.size == above.size == 999 and 1.0 in betas
  np.testing.assert_allclose(np.diff(below), np.diff(below)[0])
  np.testing.assert_allclose(np.diff(above), np.diff(above)[0])
  # D.2 writes 1 / 0.0002770224 as "≈ 36098"; it is 3609.8.
  assert betas[0] == pytest.approx(1 / 12) and betas[-1] == pytest.approx(
      3609.816, abs=1e-3)
  with pytest.raises(ValueError, match='beta_min < 1 < beta_max'):
    tfrd.rd_point_betas(11, 0.5, spacing='paper')


@pytest.mark.parametrize('spacing, beta_max, base, expected', [
    ('paper', 1 / 0.0002770224, 40000, 52713),
    ('paper_temperature', 1 / 0.0002770224, 40000, 61114),
    ('paper', 1 / 0.0003, 1600000, 1609539),
    ('paper_temperature', 1 / 0.0003, 1600000, 1611419),
])
def test_paper_schedule_lengths_of_both_readings(spacing, beta_max, base,
                                                 expected):
  # D.2 states 60,292 distributions for N = 40,000 and 1,611,463 for
  # N = 1,600,000; neither reading of "spaced linearly" above beta = 1 gives
  # them exactly (tfrd.rd_point_betas).
  betas = tfrd.rd_point_betas(1999, beta_max, spacing=spacing)
  assert betas.size == 1999 and 1.0 in betas
  above = betas[betas > 1]
  steps = np.diff(above if spacing == 'paper' else 1 / above)
  np.testing.assert_allclose(steps, steps[0])
  schedule = tfrd.build_schedule(betas, tfrd.sigmoid_betas(base, beta_max),
                                 800, 10)
  assert schedule.num_transitions == expected


def test_paper_preset_sets_appendix_d2_and_explicit_flags_win():
  _parse('--preset=paper', '--num_chains=3')
  assert ais_flags.preset_from_flags() == 'paper'
  assert FLAGS.num_chains == 3
  assert (FLAGS.leapfrog_steps, FLAGS.num_images, FLAGS.schedule,
          FLAGS.num_intermediate, FLAGS.step_size_mode) == (
              20, 50, 'paper', 40000, 'two_pass')
  schedule = ais_flags.schedule_from_flags()
  assert schedule.rd_indices.size == 1999 and 1.0 in schedule.rd_betas
  # Wu et al.'s sigmoid base of 40,000 with the D.2 fills: the paper states
  # 60,292 distributions for its construction; tfrd's reading of D.2 gives
  # fewer (the fills replace base distributions rather than add to them).
  assert 50000 < schedule.num_transitions < 61000
  gradients_paper = schedule.num_transitions * FLAGS.leapfrog_steps
  _parse()
  default = ais_flags.schedule_from_flags()
  gradients_default = default.num_transitions * FLAGS.leapfrog_steps
  # The default is where the accuracy search starts, a quarter of the
  # 20,000 of earlier versions: the paper's gradients are about 90 times it.
  assert 80 < gradients_paper / gradients_default < 100


def test_quick_and_default_presets():
  _parse('--preset=quick', '--num_images=4')
  assert ais_flags.preset_from_flags() == 'quick'
  assert (FLAGS.num_images, FLAGS.num_chains, FLAGS.num_intermediate,
          FLAGS.step_size_mode) == (4, 8, 5000, 'adaptive')
  _parse('--preset=default')
  ais_flags.preset_from_flags()
  for name in ('num_images', 'num_chains', 'num_intermediate',
               'leapfrog_steps', 'step_size_mode', 'schedule'):
    assert FLAGS[name].value == FLAGS[name].default, name
  _parse()
  assert ais_flags.preset_from_flags() is None
  assert ais_flags.preset_from_flags(default='quick') == 'quick'
  assert FLAGS.num_chains == 8


def test_library_and_apps_share_one_set_of_defaults():
  # The flags' defaults are tfrd's settings' defaults: a curve of
  # tfrd.estimate_rd_curve with no schedule and no chain settings is the
  # app's curve with no flags.
  _parse()
  assert ais_flags.schedule_settings_from_flags() == tfrd.ScheduleSettings()
  assert ais_flags.chain_settings_from_flags() == tfrd.ChainSettings()
  schedule, chains, num_images = pipeline_settings.preset('default')
  assert (schedule, chains, num_images) == (tfrd.ScheduleSettings(),
                                            tfrd.ChainSettings(), None)


def test_presets_as_settings_values_match_the_flags():
  for name in pipeline_settings.PRESETS:
    _parse(f'--preset={name}')
    ais_flags.preset_from_flags()
    schedule, chains, num_images = pipeline_settings.preset(name)
    assert schedule == ais_flags.schedule_settings_from_flags(), name
    assert chains == ais_flags.chain_settings_from_flags(), name
    assert num_images in (None, FLAGS.num_images), name
