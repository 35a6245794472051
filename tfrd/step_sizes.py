"""The step-size table a preliminary pass records and later passes replay.

Appendix D.2 tunes the HMC step sizes in a preliminary run and replays them,
frozen, in the formal run. tfrd records, per chain, the geometric mean step
size over a *segment* of consecutive chunks and replays that value over the
same segment.

Memory invariant: the table has at most `MAX_SEGMENTS` rows whatever the
schedule length, so the table, and the checkpoint that holds it, stay
bounded: at the paper's 100-dimensional setting (1,609,539 distributions in
tfrd's construction, 52,228 chunks, 2000 chains) one table is 1024 × 2000
float64 = 16 MB instead of 836 MB. A schedule of at most `MAX_SEGMENTS`
chunks keeps one row per chunk, exactly the per-chunk table of earlier
versions, so its curves are unchanged: the default settings (6,038
transitions, 227 chunks; 24,038 and 791 at four times them) and
`--preset=quick` (192 chunks). Longer
schedules average over `ceil(chunks / MAX_SEGMENTS)` consecutive chunks of
at most `randomness.BLOCK_SIZE` transitions each: 4 chunks (at most 128
transitions) at `--preset=paper` (3,581 chunks), 52 chunks (at most 1,664
transitions of 1.6 million) at the 100-dimensional setting. The adapted
step size moves slowly along the schedule (by at most 3.3% per transition at
the default adaptation rate, and much less once acceptance settles), so a
geometric mean over such a stretch replays what the preliminary run found
(appendix D.2). `tests/test_step_sizes.py` checks the bound, the per-chunk
identity, and that a coarsened replay is as accurate on a linear decoder.
"""

import numpy as np

__all__ = ['MAX_SEGMENTS', 'chunk_segments', 'StepSizeRecorder']

# Rows of a step-size table at most. 1024 keeps the table of 2000 chains at
# 16 MB and leaves every schedule up to 1024 chunks (about 30,000
# transitions) replayed chunk by chunk.
MAX_SEGMENTS = 1024


def chunk_segments(num_chunks, max_segments=None):
  """The table row (segment) each chunk records into and replays.

  Args:
    num_chunks: chunks of the schedule (`tfrd.ais.chunk_boundaries`).
    max_segments: rows of the table at most (`MAX_SEGMENTS` if None).

  Returns:
    int64 array [num_chunks], non-decreasing from 0; equal to
    `arange(num_chunks)` when `num_chunks <= max_segments`.
  """
  max_segments = MAX_SEGMENTS if max_segments is None else int(max_segments)
  chunks_per_segment = max(1, -(-int(num_chunks) // max_segments))
  return np.arange(int(num_chunks), dtype=np.int64) // chunks_per_segment


class StepSizeRecorder:
  """Accumulates the step sizes a pass uses into per-segment geometric means.

  Args:
    segments: the table row of each chunk the pass runs: `chunk_segments(...)`
      of the schedule, or (reverse AIS) those rows in the order its chunks
      replay them.
    num_rows: chains in the run (images × chains per image).
  """

  def __init__(self, segments, num_rows):
    self.segments = np.asarray(segments, dtype=np.int64)
    num_segments = int(self.segments.max()) + 1 if self.segments.size else 0
    self.log_step_sums = np.zeros([num_segments, num_rows])
    self.num_steps = np.zeros([num_segments])

  @property
  def num_segments(self):
    return self.num_steps.size

  def add(self, chunk_index, log_step_sum, num_steps):
    """Adds one chunk's summed log step sizes [num_rows] over `num_steps`."""
    segment = self.segments[chunk_index]
    self.log_step_sums[segment] += log_step_sum
    self.num_steps[segment] += num_steps

  def table(self):
    """[num_segments, num_rows] geometric-mean step sizes (1 where unused)."""
    counts = np.maximum(self.num_steps, 1)[:, np.newaxis]
    return np.exp(self.log_step_sums / counts)

  def reset(self):
    self.log_step_sums[:] = 0.0
    self.num_steps[:] = 0.0
