"""Flags for loading models that carry their users' own code.

A Keras file whose model uses the user's own layers or functions loads only
once Keras knows them: `--import` imports the user's modules (whose
`@keras.saving.register_keras_serializable` decorators register them) and
`--custom_objects` names a dict of them. `--unsafe_deserialization` lets Keras
run the Python code stored in a file (`Lambda` layers). `loading_from_flags`
gives them as `pipelines.settings.ModelSettings` fields, which
`pipelines.curve_run.load_decoder` applies.
"""

from absl import flags

__all__ = ['define_model_loading_flags', 'loading_from_flags']

FLAGS = flags.FLAGS


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


def loading_from_flags():
  """The loading flags as `ModelSettings` fields: import_modules,
  custom_objects, unsafe_deserialization."""
  return dict(
      import_modules=tuple(name.strip() for name in FLAGS['import'].value or ()
                           if name.strip()),
      custom_objects=FLAGS.custom_objects,
      unsafe_deserialization=bool(FLAGS.unsafe_deserialization))
