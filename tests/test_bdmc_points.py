"""apps.rd_curve --bdmc_points (pipelines.bdmc_points): BDMC gaps recorded
with the curve, measured after it (--target_gap=none)."""

import json
import math
import os

from absl import flags
from absl.testing import flagsaver
from matplotlib import container
import numpy as np
import pytest

from apps import ais_flags
from apps import bdmc_flags
from apps import rd_curve  # pylint: disable=unused-import  (defines the flags)
from pipelines import bdmc_points
from pipelines import compare
from pipelines import settings as pipeline_settings
import tfrd

import app_runner  # pylint: disable=g-bad-import-order

FLAGS = flags.FLAGS
TINY_AIS_FLAGS = list(app_runner.TINY_AIS_FLAGS)


def _parse(*args):
  FLAGS.unparse_flags()
  FLAGS(['rd_curve', *args])


@pytest.fixture()
def restore_flags():
  with flagsaver.flagsaver():
    yield
  FLAGS.unparse_flags()


def _write_linear_problem(root):
  """A 3-d linear decoder (root/linear.keras) and 3 images of it
  (root/images.npz)."""
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 24)) * 0.3
  app_runner.save_linear_decoder(str(root / 'linear.keras'), kernel, 0.4)
  np.savez(root / 'images.npz', x=(rng.normal(size=(3, 3)) @ kernel +
                                   0.4).astype(np.float32))


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  """One tiny rd_curve run of a linear decoder with two BDMC points."""
  root = tmp_path_factory.mktemp('bdmc_points')
  _write_linear_problem(root)
  output_dir = root / 'out'
  # 0.37 is not among the tiny schedule's temperatures; 1 is an RD point.
  result = app_runner.run_app(
      'apps.rd_curve', f'--model={root / "linear.keras"}',
      f'--dataset=npz:{root / "images.npz"}', '--num_images=3',
      '--distortion=gaussian_nll', '--gaussian_scale=0.5', '--seed=1',
      f'--output_dir={output_dir}', '--bdmc_points=1,0.37',
      '--bdmc_num_images=2', '--target_gap=none', *TINY_AIS_FLAGS)
  return result, output_dir


@pytest.mark.slow
def test_rd_curve_records_finite_gaps_and_their_settings(tiny_run):
  result, output_dir = tiny_run
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(output_dir)) == ['curve.csv', 'curve.json',
                                            'curve.npz', 'curve.png',
                                            'step_sizes.npz']
  with open(output_dir / 'curve.json') as stream:
    document = json.load(stream)
  points = document['bdmc']
  assert [point['beta'] for point in points] == [0.37, 1.0]
  betas = [point['beta'] for point in document['points']]
  for point in points:
    for key in ('mean_gap', 'max_gap', 'gap_stderr', 'mean_lower',
                'mean_upper', 'forward_rate', 'forward_distortion'):
      assert math.isfinite(point[key]), (key, point)
    assert point['mean_gap'] == pytest.approx(
        point['mean_upper'] - point['mean_lower'])
    assert point['max_gap'] >= point['mean_gap']
    # A 3-d linear Gaussian model on a schedule of some 50 transitions with
    # 4 chains: the bounds sandwich log Z within about a nat (0.2 and 0.8
    # measured); a broken reverse run is off by tens of nats.
    assert -1.0 < point['mean_gap'] < 3.0
    assert point['num_images'] == 2
    settings = point['settings']
    assert (settings['num_chains'], settings['num_leapfrog_steps'],
            settings['seed'], settings['step_size_mode']) == (
                4, 3, 1, 'two_pass')
    assert settings['beta_in_curve_schedule'] == (point['beta'] in betas)
    # Forward and reverse runs of the schedule up to beta, no more.
    assert point['num_transitions'] < document['config']['num_transitions']
  assert 'accuracy check (BDMC on 2 simulated image(s) per point' in (
      result.stdout)
  for point in points:
    assert f'{point["mean_gap"]:10.4f}' in result.stdout
  assert 'BDMC at beta = 0.37, 1' in result.stderr
  accuracy = document['accuracy']
  assert accuracy['complete'] and accuracy['target_gap'] is None
  assert accuracy['check_decoder_gradients'] == sum(
      point['decoder_gradients'] for point in points)
  # The curve itself is the one a run without BDMC writes: it is saved first.
  curve = tfrd.RDCurve.load(str(output_dir))
  assert curve.bdmc == points and curve.num_images == 3


@pytest.mark.slow
def test_compare_draws_error_bars_from_the_bdmc_field(tiny_run):
  result, output_dir = tiny_run
  assert result.returncode == 0, result.stderr[-3000:]
  (run,) = compare.load_runs([str(output_dir)])
  assert [point['beta'] for point in run.bdmc] == [0.37, 1.0]
  figure = compare.draw([run])
  bars = [c for c in figure.axes[0].containers
          if isinstance(c, container.ErrorbarContainer)]
  (bar,) = bars
  _, _, (segments,) = bar
  lengths = [s[1][1] - s[0][1] for s in segments.get_segments()]
  assert lengths == pytest.approx([max(p['mean_gap'], 0) for p in run.bdmc])


def _schedule():
  return ais_flags.schedule_from_flags()


def _points_from_flags(schedule):
  """The --bdmc_points the app would measure, checked as it checks them."""
  job = pipeline_settings.CurveJob(
      model=pipeline_settings.ModelSettings(path='unused.keras'),
      distortion=ais_flags.distortion_settings_from_flags(),
      accuracy=bdmc_flags.accuracy_settings_from_flags())
  _, plan = bdmc_points.plan_check(job, schedule, tfrd.ChainSettings())
  return plan.betas


@pytest.mark.parametrize('value, message', [
    ('one', '--bdmc_points must be numbers'),
    ('0', '--bdmc_points must be positive'),
    ('-1', '--bdmc_points must be positive'),
    ('inf', 'must be positive and finite'),
    ('nan', '--bdmc_points must be positive'),
    ('10.5', 'must be positive and at most 10'),
])
def test_bad_points_are_refused(restore_flags, value, message):
  del restore_flags
  _parse(*TINY_AIS_FLAGS, f'--bdmc_points={value}')
  with pytest.raises(ValueError, match=message):
    _points_from_flags(_schedule())


@pytest.mark.parametrize('args, message', [
    (['--distortion=bernoulli_nll', '--bdmc_points=0.5'],
     r'--bdmc_points: beta = 0\.5: BernoulliNLL defines a normalized channel '
     r'only at beta = 1'),
    (['--distortion=ssim', '--bdmc_points=1'],
     '--distortion=ssim does not define'),
    (['--bdmc_points=1', '--bdmc_num_images=0'],
     '--bdmc_num_images must be positive'),
    # The default target is judged on at least 4 simulated images.
    (['--bdmc_points=1', '--bdmc_num_images=3'],
     '--bdmc_num_images=3 cannot judge --target_gap: its verdict needs at '
     'least 4'),
])
def test_points_the_distortion_cannot_simulate_are_refused(
    restore_flags, args, message):
  del restore_flags
  _parse(*TINY_AIS_FLAGS, *args)
  with pytest.raises(ValueError, match=message):
    _points_from_flags(_schedule())


def test_points_snap_to_the_schedule_and_truncate_to_its_prefix(
    restore_flags):
  del restore_flags
  _parse(*TINY_AIS_FLAGS)
  schedule = _schedule()
  near = schedule.betas[20] * (1 + 1e-12)
  FLAGS.bdmc_points = [repr(float(near)), '0.37', '1', '10']
  points = _points_from_flags(schedule)
  assert points.tolist() == sorted([schedule.betas[20], 0.37, 1.0, 10.0])
  assert points[0] == schedule.betas[20]  # the schedule's own value
  full = tfrd.accuracy.schedule_holding(schedule, points)
  assert set(schedule.betas) <= set(full.betas)
  assert set(full.betas) - set(schedule.betas) == {0.37}
  # Truncated at a point of the curve's schedule: exactly its prefix.
  index = int(np.nonzero(schedule.betas == 1.0)[0][0])
  truncated = tfrd.truncate_schedule(full, 1.0)
  assert truncated.betas.tolist() == sorted(
      schedule.betas[:index + 1].tolist() + [0.37])
  assert tfrd.truncate_schedule(full, schedule.betas[20]).betas.tolist() == (
      schedule.betas[:21].tolist())
  _parse(*TINY_AIS_FLAGS)
  # By default: the lowest RD beta, 1 and the highest.
  assert _points_from_flags(schedule).tolist() == [
      schedule.betas[schedule.rd_indices[0]], 1.0, 10.0]
  _parse(*TINY_AIS_FLAGS, '--bdmc_points=none')
  assert _points_from_flags(schedule).size == 0


@pytest.mark.slow  # starts apps.rd_curve, which loads TensorFlow
def test_refusal_is_one_line_before_any_work(tmp_path):
  output_dir = tmp_path / 'out'
  result = app_runner.run_app(
      'apps.rd_curve', f'--model={tmp_path / "missing.keras"}',
      '--dataset=npz:nothing.npz', f'--output_dir={output_dir}',
      '--bdmc_points=1,20', *TINY_AIS_FLAGS)
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.strip()]
  assert errors == ['rd_curve: error: --bdmc_points: BDMC points must be '
                    'positive and at most 10 (the largest beta of the curve\'s '
                    'schedule), got 1,20.']
  assert not output_dir.exists()


@pytest.mark.slow
def test_resume_of_a_finished_curve_adds_only_the_missing_points(tmp_path):
  _write_linear_problem(tmp_path)
  output_dir = tmp_path / 'out'
  curve_json = output_dir / 'curve.json'

  def rd_curve(*args):
    return app_runner.run_app(
        'apps.rd_curve', f'--model={tmp_path / "linear.keras"}',
        f'--dataset=npz:{tmp_path / "images.npz"}', '--num_images=3',
        '--distortion=gaussian_nll', '--gaussian_scale=0.5',
        f'--output_dir={output_dir}', '--bdmc_num_images=2',
        '--target_gap=none', *TINY_AIS_FLAGS, *args)

  def document():
    with open(curve_json) as stream:
      return json.load(stream)

  result = rd_curve('--seed=1', '--bdmc_points=1')
  assert result.returncode == 0, result.stderr[-3000:]
  first = document()
  assert [point['beta'] for point in first['bdmc']] == [1.0]

  # A point asked for only now: measured; the curve and the gap at 1 kept.
  result = rd_curve('--seed=1', '--bdmc_points=1,0.37', '--resume')
  assert result.returncode == 0, result.stderr[-3000:]
  assert (f'rd_curve: the curve in {output_dir} is finished; measuring its '
          f'missing BDMC point(s) (1 already there)' in result.stderr)
  assert 'BDMC at beta = 0.37: ' in result.stderr, result.stderr[-2000:]
  second = document()
  assert [point['beta'] for point in second['bdmc']] == [0.37, 1.0]
  assert second['bdmc'][1] == first['bdmc'][0]
  assert second['points'] == first['points']
  assert math.isfinite(second['bdmc'][0]['mean_gap'])
  # The same as a run that measured 0.37 with the curve (seeded by beta).
  fresh = tmp_path / 'fresh'
  result = rd_curve('--seed=1', '--bdmc_points=0.37',
                    f'--output_dir={fresh}')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(fresh / 'curve.json') as stream:
    [gap] = json.load(stream)['bdmc']
  for key in ('mean_gap', 'mean_lower', 'mean_upper'):
    assert gap[key] == second['bdmc'][0][key], key

  # Nothing missing: finished, nothing run, nothing rewritten.
  before = curve_json.stat().st_mtime_ns
  result = rd_curve('--seed=1', '--bdmc_points=0.37,1', '--resume')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'is finished: its result is' in result.stderr
  assert 'BDMC at beta' not in result.stderr
  assert curve_json.stat().st_mtime_ns == before

  # Flags of another curve: one line, before any work, nothing changed.
  result = rd_curve('--seed=2', '--bdmc_points=0.5', '--resume')
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if 'error' in line]
  assert errors == [f'rd_curve: error: {output_dir}/curve.json was made with '
                    f'another seed than these flags give; pass the run\'s '
                    f'own flags to add BDMC points to it.']
  assert curve_json.stat().st_mtime_ns == before


@pytest.mark.parametrize('changes, message', [
    ({'betas': (0.5, 20.0)}, 'must be positive and at most 10'),
    ({'model_precision': 'bfloat16', 'jit_compile': True},
     '--decoder_precision=bfloat16 needs --jit=false or auto'),
    ({'num_images': 0}, '--num_images must be positive'),
])
def test_apps_bdmc_refuses_before_any_work(tmp_path, changes, message):
  # apps.bdmc's refusals (one `bdmc: error:` line in the app), in process.
  from pipelines import settings as pipeline_settings  # pylint: disable=g-import-not-at-top
  _write_linear_problem(tmp_path)
  model = pipeline_settings.ModelSettings(
      path=str(tmp_path / 'linear.keras'),
      precision=changes.get('model_precision', 'float32'))
  job = pipeline_settings.BDMCJob(
      model=model,
      schedule=tfrd.ScheduleSettings(num_intermediate=60, num_rd_points=4,
                                     beta_max=10, min_before_first=20),
      chains=tfrd.ChainSettings(num_chains=2,
                                jit_compile=changes.get('jit_compile',
                                                        'auto')),
      betas=changes.get('betas'), num_images=changes.get('num_images', 2),
      output_dir=str(tmp_path / 'out'))
  with pytest.raises(ValueError, match=message):
    bdmc_points.run_bdmc_job(job)
  assert not (tmp_path / 'out').exists()
