"""The one duration format of the progress lines (apps.progress, zoo)."""

import io

import pytest

from pipelines import progress
import tfrd
from tfrd import durations
from zoo import training


@pytest.mark.parametrize('seconds, text', [
    (0, '0s'), (0.4, '0s'), (59.4, '59s'), (59.6, '1m00s'), (61, '1m01s'),
    (3599, '59m59s'), (3600, '1h00m'), (3725, '1h02m'), (90061, '25h01m')])
def test_format_seconds(seconds, text):
  assert durations.format_seconds(seconds) == text
  # The zoo trainer's name for it is the same function, not a copy.
  assert training.format_seconds is durations.format_seconds


def test_progress_line_uses_it(monkeypatch):
  # A fixed clock: the line's times, not how long the first use of
  # tfrd.ProgressUpdate takes to import its module.
  monkeypatch.setattr(progress.time, 'time', lambda: 100.0)
  stream = io.StringIO()
  printer = progress.ProgressPrinter(num_passes=1, stream=stream)
  printer(tfrd.ProgressUpdate('reported', 10, 10, 2, 2, 1.0, 0.5, 1.0))
  assert stream.getvalue().startswith('[reported 1/1] points 2/2  ')
  assert ' elapsed 0s  left ~0s\n' in stream.getvalue()
