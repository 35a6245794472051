"""pipelines.curve_run in-process: the run apps.rd_curve makes from its flags,
its refusals before any work, its files, and resume after a stop.

The process itself (exit statuses, signals, the first line printed) is
tests/test_apps.py's, in subprocesses; every rule here runs in this one.
"""

import collections
import json
import os
import threading

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest

from adapters import keras_decoder
from apps import ais_flags
from apps import rd_curve
from pipelines import curve_run
from pipelines import jobs
from pipelines import output_files
import tfrd

import app_runner  # pylint: disable=g-bad-import-order

FLAGS = flags.FLAGS


@pytest.fixture(scope='module')
def problem(tmp_path_factory):
  root = tmp_path_factory.mktemp('curve_run')
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(3, 24)) * 0.3
  bias = np.full(24, 0.4)
  images = (rng.normal(size=(3, 3)) @ kernel + bias).astype(np.float32)
  np.savez(root / 'images.npz', x=images)
  return {'model': app_runner.save_linear_decoder(str(root / 'linear.keras'),
                                                  kernel, bias),
          'data': str(root / 'images.npz'), 'images': images}


def _job(problem, output_dir, *args):
  """The `CurveJob` apps.rd_curve makes of these flags (without the
  accuracy check unless they ask for it: it is tested on its own)."""
  check = () if any(arg.startswith(('--bdmc_points', '--target_gap'))
                    for arg in args) else ('--bdmc_points=none',)
  with flagsaver.flagsaver():
    FLAGS.unparse_flags()
    FLAGS(['rd_curve', f'--model={problem["model"]}',
           f'--dataset=npz:{problem["data"]}', '--num_images=3',
           '--distortion=gaussian_nll', '--gaussian_scale=0.5',
           f'--output_dir={output_dir}', '--seed=1',
           '--jit=false', *app_runner.TINY_AIS_FLAGS, *check, *args])
    job = rd_curve.job_from_flags(FLAGS.model, None)
  FLAGS.unparse_flags()
  return job


def _points(output_dir):
  with open(os.path.join(output_dir, 'curve.json')) as stream:
    return json.load(stream)['points']


def test_flags_become_one_job(problem, tmp_path):
  job = _job(problem, tmp_path / 'out', '--leapfrog_steps=4',
             '--bdmc_points=1', '--checkpoint_interval_s=5', '--prior=normal')
  assert job.model.path == problem['model']
  assert job.data.num_images == 3 and job.data.dataset.startswith('npz:')
  assert job.distortion.name == 'gaussian_nll'
  assert job.chains.hmc.num_leapfrog_steps == 4 and job.chains.seed == 1
  assert job.schedule.beta_max == 10 and job.schedule.num_intermediate == 60
  assert job.accuracy.betas == (1.0,) and job.accuracy.target_gap == 1.0
  assert job.outputs.checkpoint_interval_s == 5
  assert job.strategy == 'none'


def test_the_hessian_is_the_default_but_a_replay_has_plain_hmc(problem,
                                                              tmp_path):
  assert _job(problem, tmp_path / 'a').chains.hmc.mass_matrix == 'hessian'
  replay = _job(problem, tmp_path / 'b', '--step_sizes=some/step_sizes.npz')
  assert replay.chains.hmc.mass_matrix == 'identity'
  asked = _job(problem, tmp_path / 'c', '--step_sizes=some/step_sizes.npz',
               '--mass_matrix=hessian')
  assert asked.chains.hmc.mass_matrix == 'hessian'  # refused by tfrd


@pytest.mark.parametrize('extra, target_gap', [((), None),
                                               (('--target_gap=1',), 1.0)])
def test_the_quick_preset_states_gaps_without_a_target(problem, extra,
                                                        target_gap):
  # A verdict needs 4 simulated images and 4 fresh ones: twice a quick
  # look's curve. Asked for explicitly, it is made.
  with flagsaver.flagsaver():
    FLAGS.unparse_flags()
    FLAGS(['rd_curve', f'--model={problem["model"]}', '--preset=quick',
           *extra])
    assert ais_flags.preset_from_flags() == 'quick'
    job = rd_curve.job_from_flags(FLAGS.model, 'quick')
  FLAGS.unparse_flags()
  assert job.accuracy.target_gap == target_gap
  assert job.schedule.num_intermediate == 5000


def test_a_hessian_runs_step_sizes_are_refused_for_replay(tmp_path):
  # Its step sizes are in the mass matrix's units; the matrices are not in
  # the file.
  curve = collections.namedtuple('Curve', [
      'step_size_table', 'image_indices', 'config'])(
          np.ones([2, 3]), np.arange(3),
          {'num_chains': 1, 'num_transitions': 9, 'mass_matrix': 'hessian'})
  path = tmp_path / 'step_sizes.npz'
  with open(path, 'wb') as stream:
    curve_run.save_step_sizes(curve, stream)
  with pytest.raises(ValueError, match='hessian mass matrix'):
    curve_run.load_step_sizes(str(path))
  # A plain-HMC run's, and one written before the mass matrix was recorded.
  with open(path, 'wb') as stream:
    curve_run.save_step_sizes(curve._replace(config={
        'num_chains': 1, 'num_transitions': 9, 'mass_matrix': 'identity'}),
                              stream)
  np.testing.assert_array_equal(curve_run.load_step_sizes(str(path)),
                                np.ones([2, 3]))
  np.savez(path, step_sizes=np.ones([2, 3]), image_indices=np.arange(3),
           num_chains=1, num_transitions=9)
  np.testing.assert_array_equal(curve_run.load_step_sizes(str(path)),
                                np.ones([2, 3]))
  # A plain-HMC run on a schedule the search re-spaced: a replay builds the
  # schedule from its flags alone, which the table does not fit.
  with open(path, 'wb') as stream:
    curve_run.save_step_sizes(curve._replace(config={
        'num_chains': 1, 'num_transitions': 9, 'mass_matrix': 'identity',
        'schedule': {'thermodynamic': True}}), stream)
  with pytest.raises(ValueError, match='re-spaced'):
    curve_run.load_step_sizes(str(path))


def test_the_run_is_tfrds_curve_written(problem, tmp_path):
  output_dir = tmp_path / 'out'
  job = _job(problem, output_dir)
  curve = curve_run.run_curve(job)
  assert sorted(os.listdir(output_dir)) == list(sorted(
      curve_run.RESULT_FILES))
  # The same call a Python user makes gives the same numbers.
  direct = tfrd.estimate_rd_curve(
      keras_decoder_model(problem), problem['images'],
      tfrd.GaussianNLL(0.5), tfrd.schedule_from_settings(job.schedule),
      latent_dim=3, prior=tfrd.standard_normal_prior(3), chains=job.chains)
  np.testing.assert_array_equal(curve.rate, direct.rate)
  np.testing.assert_array_equal(curve.distortion, direct.distortion)
  assert _points(output_dir) == curve.points()


def test_by_default_the_curve_states_its_accuracy(problem, tmp_path, capsys):
  # The default check (here at the top beta only, to keep the test short):
  # the schedule is checked first, lengthened if a gap is above the target,
  # and the curve, its files and its table state the gaps and their cost.
  output_dir = tmp_path / 'out'
  job = _job(problem, output_dir, '--bdmc_points=10', '--target_gap=0.5',
             '--bdmc_num_images=4')
  assert job.accuracy.target_gap == 0.5
  curve = curve_run.run_curve(job)
  with open(output_dir / 'curve.json') as stream:
    document = json.load(stream)
  (point,) = document['bdmc']
  assert point['beta'] == 10.0 and point['num_images'] == 4
  accuracy = document['accuracy']
  assert accuracy['gaps'][0]['mean_gap'] == point['mean_gap']
  # The check's cost is the whole search's (its speed measurement, its
  # attempts and its verification) and the signal's on the user's images,
  # the settled points' within it.
  assert accuracy['settled_check_decoder_gradients'] == (
      point['decoder_gradients'])
  signal = accuracy['user_images']
  speed = accuracy['search']['speed']
  assert speed['decoder_gradients'] > 0
  assert accuracy['check_decoder_gradients'] == sum(
      attempt['decoder_gradients']
      for attempt in accuracy['search']['attempts'] + [
          accuracy['search']['verification'], speed]) + (
              signal['decoder_gradients'])
  # The curve ran on the schedule the search re-spaced by that speed.
  assert document['config']['schedule']['thermodynamic']
  assert accuracy['curve_decoder_gradients'] > 0
  search = accuracy['search']
  settled = search['settled_num_intermediate']
  assert document['config']['schedule']['num_intermediate_base'] == settled
  # The schedule the tiny flags set explicitly grows: --target_gap was
  # given too.
  assert search['attempts'][-1]['num_intermediate'] == settled > 60
  # The signal on the user's images: their log Z-hat at beta 10 on the
  # search's last two schedules, the curve's own on the settled one.
  assert signal['schedules'] == [search['attempts'][-2]['num_intermediate'],
                                 settled]
  assert not signal['halved'] and signal['images'] == [0, 1, 2]
  (moved,) = signal['points']
  assert moved['beta'] == 10.0 and len(moved['changes']) == 3
  assert moved['mean_log_z'] == pytest.approx(float(curve.log_z[-1]))
  # The verdict is the fresh measurement's (the curve's check), which a
  # search that met its target on its own images may still miss.
  assert search['verification']['first_image'] == 4
  assert accuracy['within_target'] == search['verification']['within_target']
  assert curve.accuracy == accuracy
  captured = capsys.readouterr()
  printed = captured.out
  assert 'accuracy check (BDMC on 4 simulated image(s) per point' in printed
  assert 'target gap 0.5 nats: ' in printed
  assert 'upper bound' in printed
  # The search's reach, before its first attempt; the signal after the gaps.
  assert "rd_curve: the search's reach: target gap 0.5 nats; it may try " \
         '--num_intermediate=60, 120, ..., 245760 (13 lengths)' in captured.err
  assert (captured.err.index("the search's reach") <
          captured.err.index('checking the schedule first'))
  assert (f'on 3 of your images, forward log Ẑ at beta=10 moved '
          f'{moved["mean_change"]:+.3g} ± {moved["stderr"]:.2g} nats from '
          f'N={signal["schedules"][0]:,} to N={settled:,}') in printed
  assert printed.index('target gap 0.5') < printed.index('of your images')
  assert 'indication, not a bound' in printed
  # The search's record went into curve.json; its file is gone.
  assert not (output_dir / curve_run.SEARCH_RECORD).exists()
  # Without the check: no gaps, no accuracy, the schedule as asked.
  plain = curve_run.run_curve(_job(problem, tmp_path / 'plain'))
  assert plain.bdmc is None and plain.accuracy is None
  assert 'accuracy' not in json.loads((tmp_path / 'plain' / 'curve.json')
                                      .read_text())


def test_a_resumed_run_reuses_its_schedule_search(problem, tmp_path,
                                                  monkeypatch):
  # A run stopped after its schedule search (here: a curve that fails)
  # keeps the search's attempts; the same job again measures none of them,
  # and a file of that name tfrd did not write is refused.
  output_dir = tmp_path / 'out'
  job = _job(problem, output_dir, '--bdmc_points=10', '--target_gap=0.5',
             '--bdmc_num_images=4')

  def no_curve(*args, **kwargs):
    raise RuntimeError('stopped before the curve')

  monkeypatch.setattr(curve_run, 'estimate', no_curve)
  with pytest.raises(RuntimeError, match='stopped before the curve'):
    curve_run.run_curve(job)
  record = output_dir / curve_run.SEARCH_RECORD
  attempts = json.loads(record.read_text())['attempts']
  assert attempts
  monkeypatch.undo()

  def no_bdmc(*args, **kwargs):
    raise AssertionError('measured again')

  monkeypatch.setattr(tfrd.bdmc, 'bdmc_at_points', no_bdmc)
  monkeypatch.setattr(tfrd.bdmc, 'bdmc_on_images', no_bdmc)
  curve = curve_run.run_curve(job)
  assert [a['num_intermediate'] for a in curve.accuracy['search']['attempts']
         ] == [a['num_intermediate'] for a in attempts]
  assert not record.exists()
  other = tmp_path / 'other'
  other.mkdir()
  (other / curve_run.SEARCH_RECORD).write_text('mine')
  with pytest.raises(output_files.OutputError, match='not a file tfrd wrote'):
    curve_run.run_curve(_job(problem, other, '--bdmc_points=10'))
  assert (other / curve_run.SEARCH_RECORD).read_text() == 'mine'


def test_the_signal_on_your_images_survives_a_stop_and_halves_one_schedule(
    problem, tmp_path, monkeypatch, capsys):
  # A search capped at its first schedule tried one: the signal compares
  # the curve with that schedule halved, and says so. Stopped while it is
  # measured, the run leaves the curve and its check on disk; --resume adds
  # the signal to them.
  output_dir = tmp_path / 'out'
  args = ('--bdmc_points=10', '--target_gap=0.5', '--bdmc_num_images=4',
          '--max_num_intermediate=60')

  def stopped(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(tfrd.accuracy, 'measure_user_images', stopped)
  with pytest.raises(KeyboardInterrupt):
    curve_run.run_curve(_job(problem, output_dir, *args))
  written = json.loads((output_dir / 'curve.json').read_text())['accuracy']
  assert len(written['search']['attempts']) == 1
  assert 'user_images' not in written
  assert '--resume measure the signal' in capsys.readouterr().err
  monkeypatch.undo()
  assert curve_run.run_curve(_job(problem, output_dir, *args,
                                  '--resume')) is None
  accuracy = json.loads((output_dir / 'curve.json').read_text())['accuracy']
  signal = accuracy['user_images']
  assert signal['halved'] and signal['schedules'] == [30, 60]
  assert signal['previous_schedule'] == {
      'num_intermediate': 30, 'min_before_first': 10, 'min_between': 1}
  assert accuracy['check_decoder_gradients'] == (
      written['check_decoder_gradients'] + signal['decoder_gradients'])
  (moved,) = signal['points']
  assert moved['beta'] == 10.0 and len(moved['changes']) == 3
  printed = capsys.readouterr().out
  assert ('on 3 of your images, forward log Ẑ at beta=10 moved '
          f'{moved["mean_change"]:+.3g} ± {moved["stderr"]:.2g} nats from '
          'N=30 (the settled schedule halved: the search tried one) to N=60'
          ) in printed
  # Once there, a resumed run has nothing left to do.
  assert curve_run.run_curve(_job(problem, output_dir, *args,
                                  '--resume')) is None
  assert 'is finished' in capsys.readouterr().err


def _grows(problem, *args):
  """Whether apps.rd_curve's flags let the target lengthen the schedule."""
  with flagsaver.flagsaver():
    FLAGS.unparse_flags()
    FLAGS(['rd_curve', f'--model={problem["model"]}', *args])
    ais_flags.preset_from_flags()
    accuracy = rd_curve.job_from_flags(FLAGS.model, FLAGS.preset).accuracy
  FLAGS.unparse_flags()
  return accuracy.grow_schedule


def test_only_a_schedule_left_to_tfrd_or_an_explicit_target_grows(problem):
  assert _grows(problem)
  # A preset's schedule is not the user's.
  assert _grows(problem, '--preset=paper')
  for flag in ('--num_intermediate=100', '--min_before_first=10',
               '--min_between=3', '--schedule=linear'):
    assert not _grows(problem, flag)
    assert not _grows(problem, '--preset=paper', flag)
    assert _grows(problem, flag, '--target_gap=1')
  # The flags of the RD points place them; the schedule may still grow.
  assert _grows(problem, '--num_rd_points=5', '--beta_max=100')


def test_a_schedule_set_explicitly_is_checked_and_warned_not_grown(
    problem, tmp_path, capsys):
  # The schedule flags without --target_gap: the curve runs on the schedule
  # as set; the default target (1 nat) judges it in the check after the
  # curve, is missed on so short a schedule, and a warning says what lets
  # tfrd lengthen it. Not asked for, the target leaves the exit status 0.
  output_dir = tmp_path / 'out'
  status = _main(problem, output_dir, '--bdmc_points=10',
                 '--num_intermediate=4', '--min_before_first=1',
                 '--min_between=1')
  assert status == 0
  document = json.loads((output_dir / 'curve.json').read_text())
  assert document['config']['schedule']['num_intermediate_base'] == 4
  accuracy = document['accuracy']
  assert 'search' not in accuracy and 'user_images' not in accuracy
  assert accuracy['target_gap'] == 1.0 and accuracy['schedule_as_set']
  assert accuracy['within_target'] is False
  assert accuracy['num_images'] == 4  # enough to judge the target
  (warning,) = [w for w in accuracy['warnings']
                if w.startswith('The target gap of 1 nats is not met')]
  assert 'The schedule was set explicitly' in warning
  captured = capsys.readouterr()
  assert 'checking the schedule first' not in captured.err
  assert "the search's reach" not in captured.err
  assert 'rd_curve: the schedule was set explicitly: the curve runs on it ' \
         'as set' in captured.err
  assert 'target gap 1 nats: NOT met' in captured.out
  assert 'on the schedule as you set it, which tfrd does not lengthen' in \
      captured.out
  assert 'warning: --target_gap=1 lets tfrd lengthen the schedule you set ' \
         'until every gap meets it' in captured.out


def keras_decoder_model(problem):
  import keras  # pylint: disable=g-import-not-at-top
  return keras.saving.load_model(problem['model'])


@pytest.mark.parametrize('case', ['missing_model', 'bdmc_point', 'checkpoint'])
def test_a_run_refused_before_any_work_leaves_no_directory(problem, tmp_path,
                                                           case):
  output_dir = tmp_path / 'runs' / 'out'
  if case == 'missing_model':
    job = _job(problem, output_dir)
    job = job.__class__(**{**job.__dict__, 'model': job.model.__class__(
        path=str(tmp_path / 'missing.keras'))})
    error = keras_decoder.ModelError
  elif case == 'bdmc_point':
    job = _job(problem, output_dir, '--bdmc_points=20')
    error = ValueError
  else:
    # A checkpoint directory holding someone else's file.
    foreign = tmp_path / 'theirs'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    job = _job(problem, output_dir, f'--checkpoint_dir={foreign}')
    error = tfrd.CheckpointDirectoryError
  with pytest.raises(error):
    curve_run.run_curve(job)
  assert not (tmp_path / 'runs').exists()
  if case == 'checkpoint':
    assert sorted(os.listdir(tmp_path / 'theirs')) == ['notes.txt']


def test_existing_results_are_refused_then_replaced_with_overwrite(
    problem, tmp_path):
  output_dir = tmp_path / 'out'
  output_dir.mkdir()
  (output_dir / 'curve.json').write_text('{"mine": true}')
  with pytest.raises(output_files.OutputError, match='already holds'):
    curve_run.run_curve(_job(problem, output_dir))
  assert (output_dir / 'curve.json').read_text() == '{"mine": true}'
  curve_run.run_curve(_job(problem, output_dir, '--overwrite'))
  assert _points(output_dir)


def test_a_stopped_run_resumes_to_the_uninterrupted_curve(problem, tmp_path,
                                                          monkeypatch):
  whole = tmp_path / 'whole'
  curve_run.run_curve(_job(problem, whole))
  stopped = tmp_path / 'stopped'
  stop = threading.Event()
  stop.set()  # as after SIGTERM: checkpoint at the end of the first chunk
  monkeypatch.setattr(jobs, 'stop_event', lambda: stop)
  with pytest.raises(tfrd.RunInterrupted):
    curve_run.run_curve(_job(problem, stopped, '--checkpoint_interval_s=0'))
  assert not (stopped / 'curve.json').exists()
  assert tfrd.checkpointing.has_checkpoint(str(stopped / 'checkpoint'))
  # Without --resume the checkpoint is not thrown away.
  stop.clear()
  with pytest.raises(tfrd.CheckpointExistsError, match='--resume'):
    curve_run.run_curve(_job(problem, stopped))
  curve_run.run_curve(_job(problem, stopped, '--resume'))
  assert _points(stopped) == _points(whole)
  assert sorted(os.listdir(stopped)) == sorted(curve_run.RESULT_FILES)


def test_resume_of_a_finished_run_touches_nothing(problem, tmp_path, capsys):
  output_dir = tmp_path / 'out'
  curve_run.run_curve(_job(problem, output_dir))
  before = (output_dir / 'curve.json').stat().st_mtime_ns
  assert curve_run.run_curve(_job(problem, output_dir, '--resume')) is None
  assert 'is finished' in capsys.readouterr().err
  assert (output_dir / 'curve.json').stat().st_mtime_ns == before


@pytest.fixture(scope='module')
def bad_inputs(problem, tmp_path_factory):
  root = tmp_path_factory.mktemp('bad_inputs')
  np.savez(root / 'wrong.npz', x=np.zeros((3, 25), np.float32))
  (root / 'truncated.keras').write_text('not a zip archive')
  kernel = np.full((3, 24), np.nan)
  return {'wrong_data': str(root / 'wrong.npz'),
          'not_a_zip': str(root / 'truncated.keras'),
          'nan_model': app_runner.save_linear_decoder(
              str(root / 'nan.keras'), kernel, np.full(24, 0.4))}


@pytest.mark.parametrize('case, message', [
    ('mismatch', 'does not match the decoder output shape (24,)'),
    ('missing', 'Model file not found'),
    ('schedule', 'strictly increasing'),
    ('prior', 'mixture'),
    ('kind', '--gaussian_scale=decoder'),
    ('step_size', '--initial_step_size must be positive'),
    ('accept', '--target_accept is an acceptance probability'),
    ('reconstruction_betas', '--reconstruction_betas must be numbers'),
    ('not_a_zip', 'is not a Keras .keras archive'),
    ('strategy', '--cpu_devices splits the CPU for --strategy=mirrored'),
    ('bdmc_distortion', '--distortion=ssim does not define'),
])
def test_bad_input_is_refused_before_any_work(problem, bad_inputs, tmp_path,
                                              case, message):
  # What apps.rd_curve reports as one `rd_curve: error:` line (exit 2); the
  # app's own process is tests/test_apps.py's.
  model = f'--model={problem["model"]}'
  args = {
      'mismatch': [f'--dataset=npz:{bad_inputs["wrong_data"]}'],
      'missing': [f'--model={tmp_path / "nope.keras"}'],
      'schedule': ['--rd_betas=1,0.5'],
      'prior': ['--prior=mixture:1.5'],
      'kind': ['--output_kind=mean_logvar'],
      'step_size': ['--initial_step_size=0'],
      'accept': ['--target_accept=1.5'],
      'reconstruction_betas': ['--save_reconstructions',
                               '--reconstruction_betas=one'],
      'not_a_zip': [f'--model={bad_inputs["not_a_zip"]}'],
      'strategy': ['--cpu_devices=2'],
      'bdmc_distortion': ['--distortion=ssim', '--bdmc_points=1',
                          '--image_shape=4,6,1'],
  }[case]
  output_dir = tmp_path / 'out'
  with pytest.raises(curve_run.EXPECTED_ERRORS) as refused:
    curve_run.run_curve(_job(problem, output_dir, model, *args))
  assert message in str(refused.value)
  assert len(str(refused.value).splitlines()) == 1
  assert not output_dir.exists()


def test_a_decoder_giving_nan_is_one_error_and_no_curve(problem, bad_inputs,
                                                        tmp_path):
  output_dir = tmp_path / 'out'
  with pytest.raises(tfrd.DecoderOutputError, match='NaN'):
    curve_run.run_curve(_job(problem, output_dir,
                             f'--model={bad_inputs["nan_model"]}'))
  assert not (output_dir / 'curve.json').exists()


def _main(problem, output_dir, *args):
  """apps.rd_curve's main on the tiny problem, in-process: its exit status."""
  with flagsaver.flagsaver():
    FLAGS.unparse_flags()
    FLAGS(['rd_curve', f'--model={problem["model"]}',
           f'--dataset=npz:{problem["data"]}', '--num_images=3',
           '--distortion=gaussian_nll', '--gaussian_scale=0.5',
           f'--output_dir={output_dir}', '--seed=1', '--jit=false',
           *app_runner.TINY_AIS_FLAGS, *args])
    status = rd_curve.main(['rd_curve'])
  FLAGS.unparse_flags()
  return status


def test_an_explicit_target_not_met_writes_the_curve_and_exits_3(
    problem, tmp_path, capsys):
  # A target no schedule meets within a cap of the first schedule: one
  # attempt, capped; the curve and its files are written all the same.
  output_dir = tmp_path / 'out'
  status = _main(problem, output_dir, '--bdmc_points=10', '--target_gap=1e-6',
                 '--max_num_intermediate=60')
  assert status == jobs.TARGET_NOT_MET == 3
  assert sorted(os.listdir(output_dir)) == sorted(curve_run.RESULT_FILES)
  document = json.loads((output_dir / 'curve.json').read_text())
  assert document['accuracy']['within_target'] is False
  assert document['accuracy']['search']['status'] == 'capped'
  assert 'the target gap of 1e-06 nats was not met; the curve is written ' \
         'all the same (exit status 3)' in capsys.readouterr().err


def test_only_an_explicit_target_decides_the_exit_status(
    problem, tmp_path, monkeypatch):
  # The default target (1 nat, not given) missed keeps its warning and
  # exits 0; the same target given explicitly exits 3; met, 0.
  missed = tfrd.RDCurve(np.array([1.0]), *[np.ones([1, 1])] * 4)
  missed.accuracy = {'within_target': False, 'target_gap': 1.0}
  monkeypatch.setattr(curve_run, 'run_curve', lambda job: missed)
  assert _main(problem, tmp_path / 'a') == 0
  assert _main(problem, tmp_path / 'b', '--target_gap=1') == 3
  missed.accuracy['within_target'] = True
  assert _main(problem, tmp_path / 'c', '--target_gap=1') == 0
  # A finished run that had nothing to do (None) is not a verdict.
  assert curve_run.target_status(None) == 0
