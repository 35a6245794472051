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

A checkpoint directory may be one the user shares with other work, so tfrd
owns only what it can recognise as its own: the manifest `MANIFEST_NAME`,
the files `CHECKPOINT_PREFIX-N.index` / `.data-*` and TensorFlow's
`checkpoint` index when it names them. `check_directory` refuses, before any
work, a directory that holds other files and no tfrd checkpoint (the index
file of someone else's TensorFlow checkpoint would be overwritten);
`remove_checkpoint` deletes tfrd's files and nothing else, and the directory
itself (and the parents it had to make for it) only if tfrd created it and
it is then empty (the manifest records which).
`tests/test_data_safety.py` (test_remove_checkpoint_*) puts a user's file
beside a checkpoint and checks it survives; `tests/test_checkpointing.py`
checks that a checkpoint resumes only its own run.
"""

import hashlib
import json
import os
import re

import numpy as np
import tensorflow as tf

from tfrd import files

__all__ = ['CheckpointMismatchError', 'CheckpointExistsError',
           'CheckpointDirectoryError', 'describe_parameters', 'fingerprint',
           'AISCheckpointer',
           'check_directory', 'has_checkpoint', 'remove_checkpoint', 'MANIFEST_NAME',
           'CHECKPOINT_PREFIX']

# File names tfrd writes into a checkpoint directory; anything else there is
# the user's.
MANIFEST_NAME = 'tfrd_checkpoint.json'
CHECKPOINT_PREFIX = 'tfrd_ais'
_MANIFEST_FORMAT = 'tfrd.checkpoint/1'
_STATE_FILE = 'checkpoint'  # TensorFlow's index of the latest checkpoint
_CHECKPOINT_FILE = re.compile(
    re.escape(CHECKPOINT_PREFIX) + r'-\d+\.(index|data-\d+-of-\d+)$')


class CheckpointMismatchError(ValueError):
  """A checkpoint belongs to a different model, data, schedule or settings."""


class CheckpointExistsError(ValueError):
  """A checkpoint is in the way of a run that was not asked to resume."""


class CheckpointDirectoryError(ValueError):
  """A checkpoint directory is not one tfrd may write into."""


def _is_tfrd_file(directory, name):
  if name == MANIFEST_NAME or _CHECKPOINT_FILE.match(name):
    return True
  if name.startswith(f'.{MANIFEST_NAME}.') and name.endswith('.partial'):
    return True  # a manifest write that was killed half-way
  if name == _STATE_FILE:
    state = tf.train.get_checkpoint_state(directory)
    return bool(state and os.path.basename(
        state.model_checkpoint_path).startswith(CHECKPOINT_PREFIX + '-'))
  return False


def check_directory(directory):
  """Refuses a directory tfrd may not checkpoint into, before any work.

  Raises:
    CheckpointDirectoryError: if the path is a file, or a directory that
      holds files tfrd did not write and no tfrd checkpoint.
  """
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise CheckpointDirectoryError(
        f'The checkpoint directory {directory} is a file; give a new or '
        f'empty directory.')
  if not os.path.isdir(directory) or _read_manifest(directory):
    return
  foreign = sorted(name for name in os.listdir(directory)
                   if not _is_tfrd_file(directory, name))
  if foreign:
    shown = ', '.join(foreign[:3]) + (', ...' if len(foreign) > 3 else '')
    raise CheckpointDirectoryError(
        f'The checkpoint directory {directory} holds files tfrd did not '
        f'write ({shown}) and no tfrd checkpoint; tfrd checkpoints only into '
        f'a new or empty directory or one holding its own checkpoint, so '
        f'choose another checkpoint directory.')


def _read_manifest(directory):
  try:
    with open(os.path.join(directory, MANIFEST_NAME)) as stream:
      manifest = json.load(stream)
  except (OSError, ValueError):
    return None
  return manifest if manifest.get('format') == _MANIFEST_FORMAT else None


def has_checkpoint(directory):
  """Whether `directory` holds a tfrd AIS checkpoint (finished or not)."""
  return (os.path.isdir(directory) and _read_manifest(directory) is not None
          and _latest(directory) is not None)


def _latest(directory):
  state = tf.train.get_checkpoint_state(directory)
  if not state or not os.path.basename(
      state.model_checkpoint_path).startswith(CHECKPOINT_PREFIX + '-'):
    return None
  return tf.train.latest_checkpoint(directory)


def remove_checkpoint(directory):
  """Deletes tfrd's checkpoint files in `directory`, and nothing else.

  The directory itself goes too if tfrd created it and nothing else is left
  in it.

  Returns:
    The names deleted (empty if there was no tfrd checkpoint).
  """
  if not os.path.isdir(directory) or _read_manifest(directory) is None:
    return []
  manifest = _read_manifest(directory)
  created = bool(manifest.get('created_directory'))
  names = sorted(name for name in os.listdir(directory)
                 if name != MANIFEST_NAME and _is_tfrd_file(directory, name))
  # The manifest goes last: while it is there, a half-removed checkpoint is
  # still recognisable as tfrd's.
  for name in names + [MANIFEST_NAME]:
    os.remove(os.path.join(directory, name))
  if created and not os.listdir(directory):
    os.rmdir(directory)
    # The parents made for it (e.g. OUTPUT_DIR/checkpoint above a worker's
    # own directory), deepest first, while they are empty.
    for parent in manifest.get('created_parents', ()):
      if not os.path.isdir(parent) or os.listdir(parent):
        break
      os.rmdir(parent)
  return names + [MANIFEST_NAME]


def _digest(*arrays):
  hasher = hashlib.sha256()
  for array in arrays:
    array = np.ascontiguousarray(array)
    hasher.update(str(array.dtype).encode())
    hasher.update(str(array.shape).encode())
    hasher.update(array.tobytes())
  return hasher.hexdigest()[:16]


def describe_parameters(value):
  """A JSON-able description of `value` that changes when its numbers do.

  For a checkpoint's fingerprint: a prior's `repr` names its class and
  shapes but not its parameters (N(0, I) and N(5, I) print alike), so the
  prior is described by its class and constructor parameters instead.

  - TFP distributions and bijectors (anything with a `parameters` dict):
    `{'class': 'module.QualifiedName', 'parameters': {name: description}}`,
    nested ones described the same way;
  - tensors, variables and arrays: nested lists of floats (of their values
    as strings for non-numeric dtypes); dtypes and shapes by name and list;
  - functions and classes: their qualified name;
  - lists, tuples and dicts: element by element; None, booleans, numbers
    and strings as they are; anything else: its `repr`.

  Args:
    value: a prior (or any of its parameters).

  Returns:
    Nested dicts, lists, strings, numbers, booleans and None.
  """
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  if isinstance(value, dict):
    return {str(key): describe_parameters(item)
            for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))}
  if isinstance(value, (list, tuple)):
    return [describe_parameters(item) for item in value]
  if isinstance(value, tf.DType):
    return value.name
  if isinstance(value, tf.TensorShape):
    return None if value.rank is None else value.as_list()
  parameters = getattr(value, 'parameters', None)
  if isinstance(parameters, dict) and not isinstance(value, type):
    return {'class': _qualified_name(type(value)),
            'parameters': describe_parameters(parameters)}
  if isinstance(value, (np.ndarray, np.generic)) or tf.is_tensor(value) or (
      hasattr(value, 'numpy') and callable(value.numpy)):
    array = np.asarray(value.numpy() if hasattr(value, 'numpy') else value)
    if array.dtype.kind in 'biuf':
      return array.astype(np.float64).tolist()
    return np.vectorize(str, otypes=[object])(array).tolist()
  if callable(value):
    return _qualified_name(value)
  return repr(value)


def _qualified_name(value):
  return (f'{getattr(value, "__module__", None)}.'
          f'{getattr(value, "__qualname__", getattr(value, "__name__", "?"))}')


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
    self.max_to_keep = max_to_keep
    self._variables = {}
    self._fingerprint_variable = tf.Variable(
        json.dumps(self.fingerprint, sort_keys=True), dtype=tf.string)
    self._checkpoint = None
    self._manager = None

  def check_directory(self):
    """`check_directory(self.directory)`."""
    check_directory(self.directory)

  def _write_manifest(self):
    if _read_manifest(self.directory) is not None:
      return
    created = not os.path.isdir(self.directory)
    created_parents = []
    parent = os.path.dirname(os.path.abspath(self.directory))
    while created and parent and not os.path.isdir(parent):
      created_parents.append(parent)
      parent = os.path.dirname(parent)
    os.makedirs(self.directory, exist_ok=True)
    with files.atomic_write(os.path.join(self.directory,
                                         MANIFEST_NAME)) as stream:
      json.dump({'format': _MANIFEST_FORMAT, 'created_directory': created,
                 'created_parents': created_parents,
                 'written_by': 'tfrd.run_ais'}, stream, indent=1)

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
          self._checkpoint, self.directory, max_to_keep=self.max_to_keep,
          checkpoint_name=CHECKPOINT_PREFIX)

  def save(self, values):
    """Saves a dict of arrays (always the same keys, shapes and dtypes).

    Returns:
      The path prefix of the checkpoint written.
    """
    self._write_manifest()
    self._ensure(values)
    for name, value in values.items():
      self._variables[name].assign(np.asarray(value))
    return self._manager.save()

  def latest(self):
    """Path of the latest tfrd checkpoint in the directory, or None."""
    return _latest(self.directory)

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
          f'checkpoint directory, or delete this one to start afresh.')
    self._ensure(template)
    try:
      self._checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
      raise CheckpointMismatchError(
          f'The checkpoint in {self.directory} does not fit this run: '
          f'{str(error).splitlines()[0]}') from None
    return {name: np.array(variable.numpy())
            for name, variable in self._variables.items()}
