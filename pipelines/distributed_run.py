"""The part of an app run that one process of a distributed run plays.

With --strategy=multi_worker every worker runs the same command: each
computes its images (`tfrd.distribute`), checkpoints them in its own
directory, and only the chief (worker 0) touches --output_dir. This class
holds those rules so the app's run reads as a single-process run:

- `from_chief`: a number only the chief computes (the schedule the
  accuracy search settled on), on every worker.
- `chief_decides`: the output checks (files already there, a finished run)
  are the chief's to make; its verdict reaches every worker through a
  collective before any work, so no worker computes a shard that will never
  be merged, and none waits forever for a chief that refused to start.
- `finish`: every worker deletes its own checkpoint only after the chief has
  written the curve (a barrier), so a chief that dies while writing leaves
  every shard resumable. Directories go only if tfrd created them for the
  checkpoint (its manifest says so) and they are empty.

Without a strategy (or with one process) it is the plain single-process
behaviour: one checkpoint directory, deleted once the curve is written.
"""

import contextlib
import sys

import numpy as np
import tensorflow as tf

import tfrd

__all__ = ['DistributedRun', 'WorkerLost']

# The chief's verdict on the run, sent to every worker.
_RUN, _FINISHED, _REFUSED = 0, 1, 2


class WorkerLost(Exception):
  """Another worker stopped before the curve was merged."""


class DistributedRun:
  """This process's role in a run over `strategy` (None: the only process).

  Args:
    program: the app's name, starting its stderr lines.
    strategy: a `tf.distribute.Strategy` or None.
    num_images: images of the run (to plan the shards before loading them).
    checkpoint_dir: the run's checkpoint directory; with several workers
      each checkpoints into its own `worker-K-of-N` inside it.

  Raises:
    ValueError: if there are fewer images than replicas.
  """

  def __init__(self, program, strategy, num_images, checkpoint_dir):
    self.program = program
    self.strategy = strategy
    self.plan = (None if strategy is None else
                 tfrd.distribute.plan_shards(strategy, num_images))
    self.checkpoint_dir = checkpoint_dir
    self.own_checkpoint_dir = (
        checkpoint_dir if self.plan is None else
        tfrd.distribute.shard_checkpoint_dir(checkpoint_dir, self.plan))
    if self.plan is not None:
      images = self.plan.local_images
      self.say(f'images {images.start} to {images.stop - 1} of '
               f'{self.plan.bounds[-1]} on {len(self.plan.local_replicas)} '
               f'replica(s): {", ".join(strategy.extended.worker_devices)}')

  @property
  def is_chief(self):
    return self.plan is None or self.plan.is_chief

  @property
  def num_workers(self):
    return 1 if self.plan is None else self.plan.num_workers

  def say(self, message):
    worker = ('' if self.num_workers == 1 else
              f'worker {self.plan.worker_index} of {self.num_workers}: ')
    sys.stderr.write(f'{self.program}: {worker}{message}\n')

  def from_chief(self, value):
    """The chief's integer `value`, on every worker (a collective that
    waits for the chief)."""
    if self.num_workers == 1:
      return value
    return tfrd.distribute.from_chief(self.strategy, self.plan, value)

  def from_chief_values(self, values):
    """The chief's float64 array `values`, on every worker (a collective
    that waits for the chief; every worker passes an array of the same
    size)."""
    if self.num_workers == 1:
      return np.asarray(values, np.float64)
    return tfrd.distribute.from_chief(self.strategy, self.plan, values)

  def chief_decides(self, is_finished):
    """Whether the run is already finished, as the chief finds it.

    Args:
      is_finished: callable run on the chief only; returns True when the run
        is finished, raises to refuse it.

    Returns:
      The chief's answer, on every worker.

    Raises:
      Whatever `is_finished` raised (on the chief); ValueError on the other
      workers when the chief refused.
    """
    verdict = _RUN
    if self.is_chief:
      try:
        verdict = _FINISHED if is_finished() else _RUN
      except Exception:
        self.from_chief(_REFUSED)
        raise
    verdict = self.from_chief(verdict)
    if verdict == _REFUSED:
      raise ValueError('the chief (worker 0) refused the run; its output '
                       'says why.')
    return verdict == _FINISHED

  @contextlib.contextmanager
  def collectives(self):
    """Turns a lost peer in a collective (merge, barrier) into `WorkerLost`.

    `MultiWorkerMirroredStrategy` aborts collectives once a peer stops
    answering; this worker's images are checkpointed by then.
    """
    try:
      yield
    except (tf.errors.UnavailableError, tf.errors.CancelledError,
            tf.errors.DeadlineExceededError,
            tf.errors.FailedPreconditionError) as error:
      if self.num_workers == 1:
        raise
      raise WorkerLost(
          f'another worker stopped before the curve was merged '
          f'({type(error).__name__}); this worker\'s images are '
          f'checkpointed in {self.own_checkpoint_dir}: start every worker '
          f'again with the same flags and --resume.') from None

  def scope(self):
    """Where the decoder must be built: one copy of its weights per replica."""
    if self.strategy is None:
      return contextlib.nullcontext()
    return self.strategy.scope()

  def describe(self):
    """What curve.json records of the strategy (None without one)."""
    if self.strategy is None:
      return None
    return {'kind': type(self.strategy).__name__,
            'num_replicas': self.plan.num_replicas,
            'num_workers': self.plan.num_workers,
            'chief_replica_devices': list(
                self.strategy.extended.worker_devices),
            'images_per_replica': [int(b - a) for a, b in zip(
                self.plan.bounds[:-1], self.plan.bounds[1:])]}

  def finish(self):
    """Deletes this worker's checkpoint once the chief has the curve."""
    if self.num_workers > 1:
      with self.collectives():
        tfrd.distribute.barrier(self.strategy, self.plan)
    # With the directories tfrd made for it (e.g. --output_dir on a worker
    # that writes no results), if they are empty.
    tfrd.checkpointing.remove_checkpoint(self.own_checkpoint_dir)
