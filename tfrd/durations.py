"""Durations as the progress lines of tfrd's apps and the zoo trainer show them.

`pipelines.progress` (AIS runs) and `zoo.training` (training runs) print elapsed
and remaining times; both format them here, so the two kinds of line read
alike. It lives in tfrd, the one package both may import.
"""

__all__ = ['format_seconds']


def format_seconds(seconds):
  """A duration, rounded to the second, in its two largest units.

  Args:
    seconds: a non-negative duration in seconds.

  Returns:
    '42s' below a minute, '3m07s' below an hour, else '2h05m' (the seconds
    dropped).
  """
  seconds = int(round(seconds))
  if seconds >= 3600:
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
  if seconds >= 60:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds}s'
