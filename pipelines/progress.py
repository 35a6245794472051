"""A progress line for long AIS runs: points done, β, acceptance, time left."""

import sys
import time

from tfrd import durations

__all__ = ['ProgressPrinter']


class ProgressPrinter:
  """Receives `tfrd.ProgressUpdate`s and prints at most one line a second.

  Args:
    num_passes: AIS passes the run makes (2 for the two-pass step sizes), so
      the time estimate covers the whole run.
    stream: where to print (stderr by default, so stdout stays parseable).
    min_interval_s: least time between lines.
  """

  def __init__(self, num_passes=1, stream=None, min_interval_s=1.0):
    self.num_passes = num_passes
    self.stream = stream or sys.stderr
    self.min_interval_s = min_interval_s
    self.start = time.time()
    self.last_print = 0.0
    self.phases = []

  def __call__(self, update):
    if update.phase not in self.phases:
      self.phases.append(update.phase)
    now = time.time()
    finished = update.transitions_done == update.num_transitions
    if not finished and now - self.last_print < self.min_interval_s:
      return
    self.last_print = now
    passes_done = len(self.phases) - 1
    fraction = ((passes_done + update.transitions_done / update.num_transitions)
                / self.num_passes)
    elapsed = now - self.start
    remaining = elapsed * (1 - fraction) / max(fraction, 1e-9)
    self.stream.write(
        f'[{update.phase} {len(self.phases)}/{self.num_passes}] '
        f'points {update.points_done}/{update.num_points}  '
        f'transition {update.transitions_done}/{update.num_transitions}  '
        f'beta {update.beta:.4g}  accept {update.accept_rate:.2f}  '
        f'elapsed {durations.format_seconds(elapsed)}  '
        f'left ~{durations.format_seconds(remaining)}'
        '\n')
    self.stream.flush()
