"""Resumable AIS runs: the chain state saved with `tf.train.Checkpoint`.

A checkpoint holds everything a run needs to go on exactly where it was: the
latents and their cached target parts, log-weights, step sizes, the position
in the schedule, the points recorded so far and the step-size tables. With
stateless randomness keyed by (seed, image, block), a resumed run draws the
same numbers the uninterrupted one would have drawn, so it produces exactly
the same curve.

`tf.train.CheckpointManager` writes the checkpoint files first and the small
index that names the latest one last, so a run killed while saving leaves the
previous checkpoint usable. A fingerprint of the model, data, schedule and
settings is saved alongside; a checkpoint made for anything else is refused.
"""

import hashlib
import json

import numpy as np
import tensorflow as tf

__all__ = ['CheckpointMismatchError', 'CheckpointExistsError', 'fingerprint',
           'AISCheckpointer']


class CheckpointMismatchError(ValueError):
  """A checkpoint belongs to a different model, data, schedule or settings."""


class CheckpointExistsError(ValueError):
  """A checkpoint is in the way of a run that was not asked to resume."""


def _digest(*arrays):
  hasher = hashlib.sha256()
  for array in arrays:
    array = np.ascontiguousarray(array)
    hasher.update(str(array.dtype).encode())
    hasher.update(str(array.shape).encode())
    hasher.update(array.tobytes())
  return hasher.hexdigest()[:16]


def fingerprint(decoder, data, schedule, settings):
  """What a checkpoint must match to be resumed.

  Args:
    decoder: the decoder; its weights are hashed when it exposes them (Keras
      models do), otherwise only settings['model'] identifies it.
    data: the images.
    schedule: the `AnnealingSchedule`.
    settings: JSON-serializable dict of everything else that shapes the run
      (seed, chains, leapfrog steps, step-size mode, prior, distortion...).

  Returns:
    Dict of short strings, one per component, so a mismatch can be named.
  """
  weights = getattr(decoder, 'weights', None)
  if weights is None and hasattr(decoder, 'model'):
    weights = getattr(decoder.model, 'weights', None)
  components = {
      'data': _digest(np.asarray(data)),
      'schedule': _digest(schedule.betas, schedule.rd_indices),
      'settings': hashlib.sha256(json.dumps(
          settings, sort_keys=True, default=str).encode()).hexdigest()[:16],
  }
  if weights:
    components['model weights'] = _digest(
        *[np.asarray(w.numpy() if hasattr(w, 'numpy') else w)
          for w in weights])
  return components


class AISCheckpointer:
  """Saves and restores the state of `tfrd.run_ais` in a directory.

  Args:
    directory: where checkpoints go (created if needed).
    fingerprint: dict from `fingerprint(...)`.
    max_to_keep: checkpoints kept; two, so that one survives a crash while
      the other is written.
  """

  def __init__(self, directory, fingerprint_components, max_to_keep=2):
    self.directory = directory
    self.fingerprint = dict(fingerprint_components)
    self._variables = {}
    self._fingerprint_variable = tf.Variable(
        json.dumps(self.fingerprint, sort_keys=True), dtype=tf.string)
    self._checkpoint = None
    self._manager = None

  def _ensure(self, values):
    """Creates variables for `values` (a dict of arrays) on first use."""
    created = False
    for name, value in values.items():
      value = np.asarray(value)
      if name not in self._variables:
        self._variables[name] = tf.Variable(value, dtype=value.dtype,
                                            shape=value.shape, name=name,
                                            trainable=False)
        created = True
    if created or self._checkpoint is None:
      self._checkpoint = tf.train.Checkpoint(
          fingerprint=self._fingerprint_variable, **self._variables)
      self._manager = tf.train.CheckpointManager(
          self._checkpoint, self.directory, max_to_keep=2)

  def save(self, values):
    """Saves a dict of arrays (always the same keys, shapes and dtypes)."""
    self._ensure(values)
    for name, value in values.items():
      self._variables[name].assign(np.asarray(value))
    return self._manager.save()

  def latest(self):
    """Path of the latest checkpoint in the directory, or None."""
    return tf.train.latest_checkpoint(self.directory)

  def restore(self, template):
    """Restores values shaped like `template` (dict of arrays).

    Returns:
      Dict of NumPy arrays, or None when the directory has no checkpoint.

    Raises:
      CheckpointMismatchError: if the checkpoint was made for another model,
        data, schedule or settings, or has another layout.
    """
    path = self.latest()
    if path is None:
      return None
    reader = tf.train.load_checkpoint(path)
    saved = json.loads(reader.get_tensor(
        'fingerprint/.ATTRIBUTES/VARIABLE_VALUE').decode())
    different = sorted(key for key in set(saved) | set(self.fingerprint)
                       if saved.get(key) != self.fingerprint.get(key))
    if different:
      raise CheckpointMismatchError(
          f'The checkpoint in {self.directory} was made for a different '
          f'{", ".join(different)}; refusing to resume from it. Use another '
          f'--checkpoint_dir, or delete it to start afresh.')
    self._ensure(template)
    try:
      self._checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
      raise CheckpointMismatchError(
          f'The checkpoint in {self.directory} does not fit this run: '
          f'{str(error).splitlines()[0]}') from None
    return {name: np.array(variable.numpy())
            for name, variable in self._variables.items()}
