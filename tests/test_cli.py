"""apps.cli: the exit statuses and messages every app shares."""

from absl import app
import pytest

from apps import cli


def test_expected_errors_become_status_2_with_one_line(capsys):
  def job():
    raise ValueError('--num_chains must be positive')
  assert cli.run_job('rd_curve', job, (ValueError, OSError)) == 2
  assert capsys.readouterr().err == (
      'rd_curve: error: --num_chains must be positive\n')


def test_unexpected_errors_propagate():
  def job():
    raise KeyError('a bug')
  with pytest.raises(KeyError):
    cli.run_job('rd_curve', job, (ValueError,))


def test_interruption_is_status_130_with_the_hint(capsys):
  def job():
    raise KeyboardInterrupt
  assert cli.run_job('train', job, (ValueError,),
                     interrupted_message='interrupted; rerun it.') == 130
  assert capsys.readouterr().err == 'train: interrupted; rerun it.\n'


def test_a_finished_job_exits_0_unless_its_result_says_otherwise():
  # A job's result (a curve, a summary) is not an exit status by itself.
  assert cli.run_job('rd_curve', lambda: {'rate': [1.0]}, (ValueError,)) == 0
  assert cli.run_job('rd_curve', lambda: 1, (ValueError,)) == 0
  verdict = lambda summary: 0 if summary['within_tolerance'] else 1
  assert cli.run_job('linear_vae', lambda: {'within_tolerance': False},
                     (ValueError,), exit_status=verdict) == 1
  assert cli.run_job('linear_vae', lambda: {'within_tolerance': True},
                     (ValueError,), exit_status=verdict) == 0


def test_stray_arguments_are_refused():
  with pytest.raises(app.UsageError, match='Unexpected arguments'):
    cli.start(['apps.rd_curve', 'decoder.keras'])
