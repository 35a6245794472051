"""Flags for loading models that carry their users' own code.

A Keras file whose model uses the user's own layers or functions loads only
once Keras knows them: `--import` imports the user's modules (whose
`@keras.saving.register_keras_serializable` decorators register them) and
`--custom_objects` names a dict of them. `--unsafe_deserialization` lets Keras
run the Python code stored in a file (`Lambda` layers). The apps pass
`loading_kwargs_from_flags()` to `adapters.models.load_decoder` (and
`load_keras_model`).
"""

import sys

from absl import flags

from adapters import python_objects

__all__ = ['define_model_loading_flags', 'loading_kwargs_from_flags',
           'describe_loading_flags']

FLAGS = flags.FLAGS

_UNSAFE_WARNING = (
    '--unsafe_deserialization: Keras may deserialize Python code stored in '
    'the model files (Lambda layers) and so execute arbitrary code from them; '
    'use it only for files you trust.')
# Programs that wrote the unsafe warning: an app loads its decoder and
# possibly a feature model, and says it once.
_warned = set()


def define_model_loading_flags():
  """Defines --import, --custom_objects and --unsafe_deserialization."""
  flags.DEFINE_list(
      'import', [],
      "Python modules to import before loading the model, e.g. the user's "
      'module that defines and registers (@keras.saving.'
      'register_keras_serializable) its custom layers; they must be '
      'importable (e.g. from a directory on PYTHONPATH).')
  flags.DEFINE_string(
      'custom_objects', None,
      'py:package.module:attribute naming a dict {name: class or function} '
      "of the custom objects the model uses, passed to Keras's loader "
      '(Keras 3 and tf_keras files).')
  flags.DEFINE_bool(
      'unsafe_deserialization', False,
      "Turn off Keras's safe mode when loading .keras files, so that Lambda "
      'layers (Python code stored in the file) can be loaded. This executes '
      'arbitrary code from the file: use it only for files you trust.')


def loading_kwargs_from_flags(program=None):
  """Keyword arguments of `models.load_decoder` set by the flags.

  Imports the --import modules first, so that a bad module is reported
  before anything else happens, and says on stderr (once per program) what
  --unsafe_deserialization allows.

  Args:
    program: the app's name, starting the warning line.

  Returns:
    A dict with `import_modules`, `custom_objects` (the flag's spec, which
    `load_decoder` resolves) and `safe_mode`.

  Raises:
    ValueError: if a module of --import cannot be imported.
  """
  modules = tuple(name.strip() for name in FLAGS['import'].value or ()
                  if name.strip())
  python_objects.import_modules(modules, '--import')
  if FLAGS.unsafe_deserialization and program not in _warned:
    _warned.add(program)
    prefix = f'{program}: ' if program else ''
    sys.stderr.write(f'{prefix}warning: {_UNSAFE_WARNING}\n')
  return dict(import_modules=modules, custom_objects=FLAGS.custom_objects,
              safe_mode=not FLAGS.unsafe_deserialization)


def describe_loading_flags():
  """JSON-serializable record of the loading flags, for an app's config."""
  return {
      'imports': [name.strip() for name in FLAGS['import'].value or ()
                  if name.strip()],
      'custom_objects': FLAGS.custom_objects,
      'unsafe_deserialization': bool(FLAGS.unsafe_deserialization),
  }
