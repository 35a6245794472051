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


def test_the_job_status_is_returned():
  assert cli.run_job('linear_vae', lambda: None, (ValueError,)) == 0
  assert cli.run_job('linear_vae', lambda: 1, (ValueError,)) == 1


def test_stray_arguments_are_refused():
  with pytest.raises(app.UsageError, match='Unexpected arguments'):
    cli.start(['apps.rd_curve', 'decoder.keras'])
