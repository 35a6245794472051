"""Curves across devices and machines with `tf.distribute`.

Why it exists: a paper-scale curve takes hours per model on one GPU, and its
images are independent. Every random number an image's chains draw is a
function of (seed, image index, position) (`tfrd.randomness`), and step
sizes are per chain (or per image), so the images can be split among the
replicas of a `tf.distribute` strategy and the pieces put back together give
the single-process curve.

- Sharding (`ShardPlan`): global replica r of R runs the contiguous images
  `bounds[r]:bounds[r + 1]` (`np.array_split` sizes). Under
  `MirroredStrategy` the replicas are the local devices of one process;
  under `MultiWorkerMirroredStrategy` each worker process runs the images of
  its own local replicas (contiguous, since replica ids are worker-major),
  with its own checkpoint (`shard_checkpoint_dir`), and the pieces are merged
  by `gather_images` (one `strategy.gather` per array) so that every worker
  ends with the whole curve; only the chief writes it.
- Per chunk (`ReplicatedRunner`): `strategy.run` calls a plain Python
  function in each local replica's thread, under that replica's device,
  which calls the replica's own XLA-compiled `tfrd.ais.TransitionRunner`:
  one compilation and one XLA computation per device. Why not
  `strategy.run(xla_function)`: for devices that are not all GPUs, TF's
  `mirrored_run.call_for_each_replica` clones a `jit_compile=True` function
  into one function calling every replica's copy, which XLA then compiles as
  one computation, on one device (with logical CPU devices both replicas end
  up in one cluster); several TensorFlow issues report failures of that
  path under MirroredStrategy. Calling each replica's compiled function from
  its replica thread avoids both on CPUs and GPUs alike.
- Invariant: the merged curve is the single-process curve of the same seed.
  Each replica runs the same loop on fewer rows; only the float rounding of
  the decoder's batched matmuls may depend on the batch, so the curves agree
  to rounding (`tests/test_distribute.py` checks 1e-5 relative with two
  logical CPU devices and with two loopback workers, and a killed worker
  resumed).
- Cost: between chunks (at most `tfrd.randomness.BLOCK_SIZE` transitions)
  the local chain state ([rows, D] float64 latents and gradients, [rows]
  scalars) is concatenated for the host-side bookkeeping (RD points,
  checkpoints) and split again: O(rows·D) bytes per chunk, against
  chunk · L · rows decoder gradients of compute. No collective runs before
  the merge, so workers never wait for each other during a run.
- A failed worker: the others finish their shards (checkpointed at the end
  of every pass) and then fail in the merge, as `MultiWorkerMirroredStrategy`
  aborts collectives once a peer stops answering. Restarting every worker
  with the same arguments (and `--resume` in the app) loads the finished
  shards from their checkpoints and continues the failed one from its last
  checkpoint: a failure costs that worker's work since its last checkpoint.
"""

import collections
import logging
import os

import numpy as np
import tensorflow as tf

__all__ = ['ShardPlan', 'plan_shards', 'ReplicatedRunner', 'gather_images',
           'barrier', 'from_chief', 'shard_checkpoint_dir', 'configure_cpu_devices']


class ShardPlan(
    collections.namedtuple(
        'ShardPlan', ['bounds', 'local_replicas', 'worker_index',
                      'num_workers'])):
  """Which images each replica and this worker run.

  Attributes:
    bounds: int [R + 1]; global replica r runs images bounds[r]:bounds[r+1]
      of the run's image list.
    local_replicas: the global ids of this process's replicas, in the order
      of `strategy.experimental_local_results`.
    worker_index: this worker's index (0 is the chief: it holds replica 0).
    num_workers: number of worker processes.
  """
  __slots__ = ()

  @property
  def num_replicas(self):
    return len(self.bounds) - 1

  @property
  def local_images(self):
    """The slice of the image list this worker runs."""
    return slice(int(self.bounds[self.local_replicas[0]]),
                 int(self.bounds[self.local_replicas[-1] + 1]))

  @property
  def local_sizes(self):
    """Images per local replica."""
    return [int(self.bounds[r + 1] - self.bounds[r])
            for r in self.local_replicas]

  @property
  def is_chief(self):
    return self.worker_index == 0


def plan_shards(strategy, num_images):
  """Splits `num_images` images among the strategy's replicas.

  Args:
    strategy: a `tf.distribute.Strategy`.
    num_images: N.

  Returns:
    A `ShardPlan`.

  Raises:
    ValueError: if there are fewer images than replicas (a replica would have
      no work), or this worker's replicas are not contiguous.
  """
  num_replicas = strategy.num_replicas_in_sync
  if num_images < num_replicas:
    raise ValueError(
        f'{num_images} image(s) cannot be split among {num_replicas} '
        f'replicas; use at least one image per replica.')
  sizes = [len(part) for part in np.array_split(np.arange(num_images),
                                                num_replicas)]
  bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
  local = []
  # The value function runs once per local replica and is told its global
  # id: the one public way to learn which replicas are this process's.
  strategy.experimental_distribute_values_from_function(
      lambda context: local.append(int(context.replica_id_in_sync_group)) or
      tf.constant(0))
  local = sorted(local)
  if local != list(range(local[0], local[0] + len(local))):
    raise ValueError(f'This worker\'s replicas {local} are not contiguous.')
  num_workers = num_replicas // len(local)
  return ShardPlan(bounds, tuple(local), local[0] // len(local), num_workers)


def shard_checkpoint_dir(checkpoint_dir, plan):
  """Where this worker checkpoints its shard.

  One process (any number of local replicas) uses `checkpoint_dir` itself;
  with several workers each gets `worker-K-of-N` inside it, so workers that
  share a file system never touch each other's files.
  """
  if checkpoint_dir is None or plan.num_workers == 1:
    return checkpoint_dir
  return os.path.join(checkpoint_dir,
                      f'worker-{plan.worker_index}-of-{plan.num_workers}')


def _split_rows(structure, row_sizes):
  """Splits every tensor of `structure` along its first axis (scalars are
  repeated), one structure per size."""
  offsets = np.concatenate([[0], np.cumsum(row_sizes)])

  def part(index):
    return tf.nest.map_structure(
        lambda t: t if t.shape.rank == 0 else
        t[int(offsets[index]):int(offsets[index + 1])], structure)
  return [part(index) for index in range(len(row_sizes))]


def _concat_rows(structures):
  """Inverse of `_split_rows` (scalars are taken from the first)."""
  return tf.nest.map_structure(
      lambda *parts: parts[0] if parts[0].shape.rank == 0 else
      tf.concat(parts, axis=0), *structures)


class _EagerRunNotice(logging.Filter):
  """Drops TF's advice to wrap `strategy.run` in a tf.function.

  `ReplicatedRunner` calls `strategy.run` eagerly on purpose, once per chunk
  (see the module docstring); the advice is about per-step calls.
  """

  def filter(self, record):
    return 'eagerly has significant overhead' not in record.getMessage()


_EAGER_RUN_NOTICE = _EagerRunNotice()


class ReplicatedRunner:
  """A `tfrd.ais.TransitionRunner` whose chunks run on a strategy's replicas.

  It has the interface `tfrd.ais` uses (`run_chunk`, `evaluate`,
  `num_images`, `num_chains`, `jit_compiled`) over this worker's images, so
  the pass loop, its checkpoints and its RD points are those of a single
  device. Each local replica has its own runner, built on its own device
  over its own images.

  Args:
    strategy: the `tf.distribute.Strategy`.
    plan: the `ShardPlan` of this run.
    make_runner: callable(first, stop) -> `TransitionRunner` over this
      worker's images [first, stop) (positions in its own image list); called
      once per local replica, under the replica's device.
  """

  def __init__(self, strategy, plan, make_runner):
    self.strategy = strategy
    self.plan = plan
    tf.get_logger().addFilter(_EAGER_RUN_NOTICE)
    self._devices = strategy.extended.worker_devices
    offsets = np.concatenate([[0], np.cumsum(plan.local_sizes)])
    self._runners = []
    for index, device in enumerate(self._devices):
      with tf.device(device):
        self._runners.append(make_runner(int(offsets[index]),
                                         int(offsets[index + 1])))
    self.num_chains = self._runners[0].num_chains
    self.num_images = sum(runner.num_images for runner in self._runners)

  @property
  def jit_compiled(self):
    return all(runner.jit_compiled for runner in self._runners)

  def _run(self, call, row_structure, image_indices=None,
           image_structure=()):
    """`call(runner, rows, indices, images)` on every local replica,
    concatenated.

    `rows` is the replica's part of `row_structure` (split along the first
    axis, images × chains rows), `indices` its part of `image_indices`,
    `images` its part of `image_structure` (split along the first axis, one
    row per image).
    """
    parts = list(zip(
        _split_rows(row_structure, [size * self.num_chains
                                    for size in self.plan.local_sizes]),
        _split_rows(image_structure, self.plan.local_sizes)))
    indices = np.split(
        np.zeros(self.num_images, np.int64) if image_indices is None
        else np.asarray(image_indices, np.int64),
        np.cumsum(self.plan.local_sizes)[:-1])
    first = self.plan.local_replicas[0]
    values = self.strategy.experimental_distribute_values_from_function(
        lambda context: (parts[context.replica_id_in_sync_group - first][0],
                         tf.constant(indices[
                             context.replica_id_in_sync_group - first]),
                         parts[context.replica_id_in_sync_group - first][1]))

    def replica_fn(values):
      # In the replica's thread, under its device (eager: see the module
      # docstring for why the compiled function is not given to run).
      context = tf.distribute.get_replica_context()
      local = int(context.replica_id_in_sync_group) - first
      return call(self._runners[local], *values)

    result = self.strategy.run(replica_fn, args=(values,))
    return _concat_rows(self.strategy.experimental_local_results(result))

  def evaluate(self, latents):
    """`TargetParts` at latents [rows, D], each replica evaluating its own."""
    return self._run(lambda runner, z, *_: runner.evaluate(z), latents)

  def mean_hessian(self, latents):
    """As `TransitionRunner.mean_hessian`, each replica over its own images."""
    return self._run(lambda runner, z, *_: runner.mean_hessian(z), latents)

  def run_chunk(self, state, betas, run_seed, first_transition,
                image_indices, adapt=False, metric=None):
    """As `TransitionRunner.run_chunk`, each replica on its own images (and
    its own images' rows of `metric`)."""
    return self._run(
        lambda runner, chain, indices, image_metric: runner.run_chunk(
            chain, betas, run_seed, first_transition, indices.numpy(), adapt,
            image_metric if metric is not None else None),
        state, image_indices, () if metric is None else tuple(metric))


def gather_images(strategy, plan, arrays):
  """Puts together per-image arrays from every worker (one collective).

  Args:
    strategy: the `tf.distribute.Strategy`.
    plan: the `ShardPlan`.
    arrays: dict of numeric arrays whose first axis is this worker's
      images. They travel as one float64 matrix (one gather, not one per
      array), which holds float32, float64 and integers below 2**53 exactly.

  Returns:
    Dict of NumPy arrays (dtypes kept) whose first axis is all images, in
    order; the same on every worker.
  """
  if plan.num_workers == 1:
    return dict(arrays)
  arrays = {name: np.asarray(array) for name, array in arrays.items()}
  num_images = sum(plan.local_sizes)
  columns = [array.reshape(num_images, -1).astype(np.float64)
             for array in arrays.values()]
  matrix = np.concatenate(columns, axis=1)
  offsets = np.concatenate([[0], np.cumsum(plan.local_sizes)])
  first = plan.local_replicas[0]
  value = strategy.experimental_distribute_values_from_function(
      lambda context: tf.constant(matrix[
          offsets[context.replica_id_in_sync_group - first]:
          offsets[context.replica_id_in_sync_group - first + 1]]))
  gathered = strategy.gather(value, axis=0).numpy()
  ends = np.cumsum([column.shape[1] for column in columns])
  return {name: part.reshape((-1,) + array.shape[1:]).astype(array.dtype)
          for (name, array), part in zip(
              arrays.items(), np.split(gathered, ends[:-1], axis=1))}


def from_chief(strategy, plan, value):
  """The chief's `value` on every worker (a collective).

  Lets every worker follow a decision only the chief can make (e.g. whether
  the curve in its output directory is already finished, or the schedule
  its accuracy search settled on) before any work.

  Args:
    strategy: the run's strategy.
    plan: its `ShardPlan`.
    value: an integer, or a NumPy array (sent as float64) of a size every
      worker passes alike.

  Returns:
    The chief's integer, or its float64 array.
  """
  is_array = isinstance(value, np.ndarray)
  if plan.num_workers == 1:
    return np.asarray(value, np.float64) if is_array else int(value)
  if is_array:
    contribution = tf.constant(np.asarray(value, np.float64).reshape(-1))
  else:
    contribution = tf.constant([int(value)], tf.int64)
  first = plan.local_replicas[0]
  gathered = strategy.gather(
      strategy.experimental_distribute_values_from_function(
          lambda context: contribution if
          context.replica_id_in_sync_group == first else
          tf.zeros_like(contribution)), axis=0).numpy()
  if is_array:
    return gathered[:contribution.shape[0]].reshape(np.shape(value))
  return int(gathered[0])


def barrier(strategy, plan):
  """Returns once every worker has called it (a tiny collective)."""
  if plan.num_workers > 1:
    value = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([1]))
    strategy.gather(value, axis=0).numpy()


def configure_cpu_devices(num_devices):
  """Splits the host CPU into `num_devices` logical devices.

  TensorFlow shows all CPU cores as one device, so a `MirroredStrategy` on a
  machine without GPUs has one replica; logical devices give it several
  (they share the cores: this is for testing the multi-device path, not for
  speed). Must run before TensorFlow initializes its devices.

  Raises:
    RuntimeError: if TensorFlow's devices are already initialized with
      another split.
  """
  cpu = tf.config.list_physical_devices('CPU')[0]
  wanted = [tf.config.LogicalDeviceConfiguration()] * int(num_devices)
  try:
    tf.config.set_logical_device_configuration(cpu, wanted)
  except RuntimeError:
    if len(tf.config.list_logical_devices('CPU')) != int(num_devices):
      raise RuntimeError(
          f'TensorFlow\'s devices were initialized before {num_devices} '
          f'logical CPU devices could be configured; configure them first '
          f'thing in the process.') from None
