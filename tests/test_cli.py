"""pipelines.jobs: the exit statuses and messages every entry point shares."""

import os
import signal
import sys

from absl import app
import pytest

from pipelines import jobs
import tfrd


def test_expected_errors_become_status_2_with_one_line(capsys):
  def job():
    raise ValueError('--num_chains must be positive')
  assert jobs.run_job('rd_curve', job, (ValueError, OSError)) == 2
  assert capsys.readouterr().err == (
      'rd_curve: error: --num_chains must be positive\n')


def test_unexpected_errors_propagate():
  def job():
    raise KeyError('a bug')
  with pytest.raises(KeyError):
    jobs.run_job('rd_curve', job, (ValueError,))


def test_interruption_is_status_130_with_the_hint(capsys):
  def job():
    raise KeyboardInterrupt
  assert jobs.run_job('train', job, (ValueError,),
                     interrupted_message='interrupted; rerun it.') == 130
  assert capsys.readouterr().err == 'train: interrupted; rerun it.\n'


@pytest.mark.parametrize('checkpoint_path, said', [
    ('out/ckpt-3', 'checkpoint written to out/ckpt-3'),
    (None, 'stopped without a checkpoint (no checkpoint directory)')])
def test_a_stop_request_says_what_was_kept(checkpoint_path, said, capsys):
  """The first SIGTERM stops a job at a safe point (tfrd.RunInterrupted);
  the line says whether a checkpoint was written."""
  def job():
    stop = jobs.stop_event()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(10)  # set by the handler, no exception raised
    raise tfrd.RunInterrupted(checkpoint_path)
  assert jobs.run_job('train', job, (ValueError,),
                      interrupted_message='rerun it.') == 143
  assert capsys.readouterr().err == (
      f'train: SIGTERM received; {said}; rerun it.\n')


def test_a_finished_job_exits_0_unless_its_result_says_otherwise():
  # A job's result (a curve, a summary) is not an exit status by itself.
  assert jobs.run_job('rd_curve', lambda: {'rate': [1.0]}, (ValueError,)) == 0
  assert jobs.run_job('rd_curve', lambda: 1, (ValueError,)) == 0
  verdict = lambda summary: 0 if summary['within_tolerance'] else 1
  assert jobs.run_job('linear_vae', lambda: {'within_tolerance': False},
                     (ValueError,), exit_status=verdict) == 1
  assert jobs.run_job('linear_vae', lambda: {'within_tolerance': True},
                     (ValueError,), exit_status=verdict) == 0


def _run_as_program(monkeypatch, argv, main):
  """`jobs.run(main)` as the entry point of a process started with `argv`;
  returns its exit status."""
  monkeypatch.setattr(sys, 'argv', argv)
  monkeypatch.setattr(app, '_run_main', lambda main, argv: sys.exit(main(argv)))
  with pytest.raises(SystemExit) as exited:
    jobs.run(main)
  return exited.value.code


def test_stray_arguments_are_refused(monkeypatch, capsys):
  ran = []
  status = _run_as_program(monkeypatch, ['rd_curve', 'decoder.keras'],
                           ran.append)
  assert status == 1 and not ran
  assert 'Unexpected arguments' in capsys.readouterr().err


def test_help_exits_0(monkeypatch, capsys):
  ran = []
  assert _run_as_program(monkeypatch, ['rd_curve', '--help'], ran.append) == 0
  assert not ran
  assert '--helpfull' in capsys.readouterr().out
