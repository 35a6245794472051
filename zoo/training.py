"""`Trainer`: epochs of a zoo model, with exact resumption and progress lines.

`model.fit` trains a zoo model too; the trainer adds what long runs on a
shared machine need:

- Deterministic order: the images of epoch e are visited in the order
  `numpy.random.default_rng([seed, e]).permutation(N)`, in full batches
  (the last partial batch is dropped, so every step has the same shape and
  the step function is traced once).
- Exact resumption: a `tf.train.Checkpoint` holds every variable of the
  model (networks, the step counter that keys its noise, spectral-norm
  vectors), every optimizer slot and the position (epoch, step within the
  epoch). A run resumed from any checkpoint, even one taken mid-epoch,
  computes exactly what the uninterrupted run computes (with
  `tf.config.experimental.enable_op_determinism()`).
- A checkpoint is only resumed by the training configuration that wrote it
  (`training_config.json` beside it); the number of epochs may grow.
- Progress lines on stderr at most every `log_interval_s` seconds and at the
  end of every epoch; a diverged loss (NaN or inf) stops the run.
- A stop on request at a safe point: `fit(..., stop=event)` polls the event
  (the apps set theirs on SIGTERM or Ctrl-C) after every step, checkpoints
  there and raises `tfrd.RunInterrupted`, as tfrd's AIS loop does after a
  chunk. A `KeyboardInterrupt` raised anywhere else could land between a
  step and the counter that records it, and the resumed run would repeat
  that step.
"""

import json
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf

import tfrd
from tfrd import durations

__all__ = ['Trainer', 'TrainingCheckpointError', 'TrainingDivergedError',
           'format_seconds']

# Kept under its old name; the format has one home, `tfrd.durations`, shared
# with the AIS progress line of `pipelines.progress`.
format_seconds = durations.format_seconds

_CONFIG_NAME = 'training_config.json'


class TrainingCheckpointError(ValueError):
  """A checkpoint directory holds another run's checkpoint."""


class TrainingDivergedError(ValueError):
  """A loss became NaN or infinite."""


class Trainer:
  """Trains a compiled zoo model on in-memory images, epoch by epoch.

  Args:
    model: a compiled `zoo.base.GenerativeModel`.
    images: float32 array [N, H, W, C] in [0, 1].
    batch_size: images per step, at most N.
    seed: seed of the visiting order.
    checkpoint_dir: where to checkpoint (None: no checkpoints).
    config: JSON-serializable training configuration; a checkpoint is only
      resumed by the same configuration.
    checkpoint_interval_s: least seconds between mid-epoch checkpoints (one
      is always written at the end of each epoch).
    log_interval_s: least seconds between progress lines within an epoch.
    stream: where progress goes (stderr).
    jit_compile: XLA-compile the train step.

  Raises:
    ValueError: for a batch larger than the data or a model not compiled.
  """

  def __init__(self, model, images, batch_size, seed=0, checkpoint_dir=None,
               config=None, checkpoint_interval_s=120.0, log_interval_s=10.0,
               stream=None, jit_compile=False):
    self.model = model
    self.images = np.asarray(images, np.float32)
    self.batch_size = int(batch_size)
    if not 1 <= self.batch_size <= len(self.images):
      raise ValueError(
          f'The batch size ({batch_size}) must be between 1 and the number '
          f'of training images ({len(self.images)}).')
    self.steps_per_epoch = len(self.images) // self.batch_size
    self.seed = int(seed)
    self.config = dict(config or {})
    self.checkpoint_interval_s = float(checkpoint_interval_s)
    self.log_interval_s = float(log_interval_s)
    self.stream = stream or sys.stderr
    model.build_optimizers()
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.checkpoint_dir = checkpoint_dir
    self._manager = None
    if checkpoint_dir:
      checkpoint = tf.train.Checkpoint(
          model=model, epoch=self.epoch, step_in_epoch=self.step_in_epoch,
          **{f'optimizer_{name}': optimizer
             for name, optimizer in model.optimizers.items()})
      self._manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                                 max_to_keep=2)
    self._step = tf.function(model.train_step, jit_compile=jit_compile)
    self.history = []

  # Checkpoints.

  def restore(self):
    """Resumes from the latest checkpoint, if any.

    Returns:
      Whether a checkpoint was restored.

    Raises:
      TrainingCheckpointError: if it was written by another configuration.
    """
    if self._manager is None or self._manager.latest_checkpoint is None:
      return False
    config_path = os.path.join(self.checkpoint_dir, _CONFIG_NAME)
    saved = {}
    if os.path.isfile(config_path):
      with open(config_path) as stream:
        saved = json.load(stream)
    mine = json.loads(json.dumps(self.config))  # Tuples become lists.
    differences = sorted(key for key in set(saved) | set(mine)
                         if saved.get(key) != mine.get(key))
    if differences:
      details = '; '.join(f'{key}: checkpoint {saved.get(key)!r}, now '
                          f'{mine.get(key)!r}' for key in differences)
      raise TrainingCheckpointError(
          f'{self.checkpoint_dir} holds the checkpoint of another training '
          f'run ({details}). Use the same settings to resume it, or another '
          f'--checkpoint_dir.')
    status = self._manager.checkpoint.restore(
        self._manager.latest_checkpoint)
    status.assert_existing_objects_matched()
    return True

  def save(self):
    """Writes a checkpoint now (no-op without a checkpoint directory)."""
    if self._manager is None:
      return None
    os.makedirs(self.checkpoint_dir, exist_ok=True)
    with open(os.path.join(self.checkpoint_dir, _CONFIG_NAME), 'w') as f:
      json.dump(self.config, f, indent=1, sort_keys=True)
    return self._manager.save()

  @property
  def position(self):
    """(epochs done, steps done in the current epoch)."""
    return int(self.epoch.numpy()), int(self.step_in_epoch.numpy())

  # Training.

  def order(self, epoch):
    """The visiting order of the images in `epoch`."""
    return np.random.default_rng([self.seed, epoch]).permutation(
        len(self.images))

  def fit(self, epochs, on_epoch_end=None, stop=None):
    """Trains until `epochs` epochs are done (from the current position).

    Args:
      epochs: total number of epochs of the run.
      on_epoch_end: optional callable(epoch, logs) after each epoch, with
        `epoch` the number of epochs done and `logs` the epoch's mean losses.
      stop: optional `threading.Event`, polled after every step; once set,
        the run checkpoints and stops.

    Returns:
      The list of per-epoch mean losses of the epochs trained now.

    Raises:
      TrainingDivergedError: if a loss becomes NaN or infinite.
      tfrd.RunInterrupted: when `stop` was set, after the checkpoint (its
        `checkpoint_path` is None without a checkpoint directory); the same
        trainer resumes from it.
    """
    start_epoch, start_step = self.position
    run_start = time.time()
    steps_total = (epochs * self.steps_per_epoch -
                   (start_epoch * self.steps_per_epoch + start_step))
    steps_run = 0
    last_checkpoint = time.time()
    for epoch in range(start_epoch, epochs):
      order = self.order(epoch)
      sums, count = {}, 0
      epoch_start = time.time()
      last_log = epoch_start
      first = start_step if epoch == start_epoch else 0
      for step in range(first, self.steps_per_epoch):
        indices = order[step * self.batch_size:(step + 1) * self.batch_size]
        logs = self._step(tf.constant(self.images[indices]))
        self.step_in_epoch.assign(step + 1)
        steps_run += 1
        count += 1
        for name, value in logs.items():
          sums[name] = sums.get(name, 0.0) + float(value)
        now = time.time()
        if now - last_log >= self.log_interval_s:
          last_log = now
          self._check_finite(logs, epoch, step)
          self._log(epoch, epochs, step + 1, logs, now - run_start,
                    steps_run, steps_total)
        if stop is not None and stop.is_set():
          raise tfrd.RunInterrupted(self.save())
        if (self._manager is not None and
            now - last_checkpoint >= self.checkpoint_interval_s):
          self.save()
          last_checkpoint = now
      self.epoch.assign(epoch + 1)
      self.step_in_epoch.assign(0)
      means = {name: total / max(count, 1) for name, total in sums.items()}
      self._check_finite(means, epoch, self.steps_per_epoch - 1)
      self.history.append(means)
      self._log_epoch(epoch + 1, epochs, means, time.time() - epoch_start,
                      time.time() - run_start, steps_run, steps_total)
      if self._manager is not None:
        self.save()
        last_checkpoint = time.time()
      if on_epoch_end is not None:
        on_epoch_end(epoch + 1, means)
    return self.history

  def _check_finite(self, logs, epoch, step):
    bad = [name for name, value in logs.items()
           if not math.isfinite(float(value))]
    if bad:
      raise TrainingDivergedError(
          f'Training diverged in epoch {epoch + 1}, step {step + 1}: '
          f'{", ".join(bad)} became {float(logs[bad[0]])}. Lower the '
          f'learning rate or change the seed.')

  @staticmethod
  def _format_logs(logs):
    return '  '.join(f'{name} {float(value):.4g}'
                     for name, value in logs.items())

  def _left(self, elapsed, steps_run, steps_total):
    if steps_run == 0:
      return '?'
    return format_seconds(elapsed * (steps_total - steps_run) / steps_run)

  def _log(self, epoch, epochs, step, logs, elapsed, steps_run, steps_total):
    rate = steps_run * self.batch_size / max(elapsed, 1e-9)
    self.stream.write(
        f'train: epoch {epoch + 1}/{epochs} step {step}/'
        f'{self.steps_per_epoch}  {self._format_logs(logs)}  '
        f'{rate:.0f} img/s  elapsed {format_seconds(elapsed)}  left ~'
        f'{self._left(elapsed, steps_run, steps_total)}\n')
    self.stream.flush()

  def _log_epoch(self, epoch, epochs, means, epoch_s, elapsed, steps_run,
                 steps_total):
    self.stream.write(
        f'train: epoch {epoch}/{epochs} done in {format_seconds(epoch_s)}  '
        f'mean {self._format_logs(means)}  elapsed '
        f'{format_seconds(elapsed)}  left ~'
        f'{self._left(elapsed, steps_run, steps_total)}\n')
    self.stream.flush()
