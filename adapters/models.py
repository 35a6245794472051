"""Any decoder: Keras 3, tf_keras (Keras 2), TF SavedModels, Python callables.

`load_decoder(spec)` picks the loader from the spec and returns a
`LoadedDecoder` (a callable z [B, D] -> outputs [B, ...] with its latent size,
output shape, source and format). Spec -> `format` (loaded with):

- `decoder.keras` written by Keras 3 -> 'keras3' (`keras.saving.load_model`);
  written by tf_keras -> 'tf_keras_keras' (`tf_keras.models.load_model`);
  `metadata.json` in the archive says which.
- `decoder.h5` / `.hdf5` -> 'tf_keras_h5' (`tf_keras.models.load_model`).
- a directory with `saved_model.pb` and `keras_metadata.pb` (tf_keras
  `model.save(dir)`) -> 'tf_keras_savedmodel' (`tf_keras.models.load_model`).
- a directory with `saved_model.pb` only (`tf.saved_model.save`, Keras 3
  `model.export`) -> 'saved_model' (`tf.saved_model.load`, called through a
  signature or an `attr:NAME` tf.function).
- `py:package.module:attr` -> 'python' (import; the attribute is a Keras
  model or a callable).
- a Keras 3 / tf_keras model or callable object -> 'keras3_object',
  'tf_keras_object' or 'callable' (`decoder_from_object`).

Latent sizes come from the model's input (Keras), the signature's input
TensorSpec (SavedModel), or `latent_dim` (an attribute of the callable or an
argument); output shapes from the model or from one call on zeros.

Keras files of models with the user's own layers or functions load with
`import_modules` (the user's modules that register them, imported first) or
`custom_objects`; files with `Lambda` layers need `safe_mode=False`. When a
load fails for want of these, the `ModelError` says which option (and which
app flag: --import, --custom_objects, --unsafe_deserialization) fixes it.
"""

import collections.abc
import json
import os
import re
import sys
import zipfile

import tensorflow as tf

from adapters import keras_decoder
from adapters import python_objects
from adapters.keras_decoder import LoadedDecoder
from adapters.keras_decoder import ModelError

__all__ = ['MODEL_FORMATS', 'ModelError', 'LoadedDecoder', 'load_decoder',
           'load_keras_model', 'decoder_from_object', 'detect_format']

# Values of `load_decoder(model_format=...)` (and of an app's --model_format).
MODEL_FORMATS = ('auto', 'keras3', 'tf_keras', 'saved_model', 'python')

_ATTR_PREFIX = 'attr:'
# Output-key pairs of a SavedModel signature recognized as (mean, log-variance)
# when several outputs are allowed; signature outputs come as a dict, whose
# order says nothing.
_MEAN_LOGVAR_KEYS = (('mean', 'logvar'), ('mean', 'log_var'),
                     ('mean', 'log_variance'), ('loc', 'logvar'),
                     ('loc', 'log_var'), ('loc', 'log_variance'))
# Batch size of the probe call on zeros; 2, not 1, so that a decoder that
# squeezes or broadcasts the batch axis is caught.
_PROBE_BATCH = 2
# How Keras says it lacks a custom class or function (group 'name'), in
# Keras 3 / tf_keras .keras archives, tf_keras .h5 and SavedModels, and
# tf_keras Sequential archives (which get the name as a string instead).
_UNKNOWN_OBJECT_PATTERNS = (
    re.compile(r"Could not locate (?P<kind>class|function) '(?P<name>[^']+)'"
               r"(?:.*?Full object config: \{'module': '(?P<module>[\w.]*)')?",
               re.DOTALL),
    re.compile(r"Unknown (?P<kind>layer|object|[a-z]+ function|initializer|"
               r"regularizer|constraint|optimizer|loss|metric): "
               r"'?(?P<name>[\w.>]+)'?"),
    re.compile(r"layer=(?P<name>[\w.>]+) of type <class 'str'>"),
)
# Modules a saved config names that the user cannot --import usefully: a
# missing object from them is a plain function or a script's class.
_NOT_USER_MODULES = ('builtins', '__main__', 'keras', 'tf_keras', 'tensorflow')
# Keras 3 and tf_keras refuse Python code stored in a file (Lambda layers,
# lambdas in configs) with a message telling to pass this.
_SAFE_MODE_MARKERS = ('safe_mode=False', 'enable_unsafe_deserialization')


def load_decoder(spec, model_format='auto', signature=None, latent_dim=None,
                 allow_multiple_outputs=False, custom_objects=None,
                 safe_mode=True, import_modules=()):
  """Loads a decoder from a path, a `py:` spec or an in-memory object.

  Args:
    spec: a path (`.keras`, `.h5`, SavedModel directory), `py:module:attr`,
      or a model / callable object (see `decoder_from_object`).
    model_format: one of `MODEL_FORMATS`; 'auto' decides from the spec.
      'saved_model' reads even a tf_keras SavedModel directory through its
      signatures.
    signature: for plain SavedModels, the signature name ('serving_default'
      by default, or the only one there is) or 'attr:NAME' to call the
      tf.function `loaded.NAME(z)`; ignored by the other formats.
    latent_dim: the latent size D where the model does not say it (a Python
      callable without a `latent_dim` attribute, a signature with an unknown
      input size).
    allow_multiple_outputs: accept decoders that return several tensors (mean
      and log-variance; see `adapters.conventions`).
    custom_objects: for Keras files (Keras 3 and tf_keras), a dict
      {name: class or function} of the custom layers, models and functions
      the file uses, or a `py:module:attribute` spec naming such a dict
      (`--custom_objects`). Ignored by the other formats.
    safe_mode: False lets Keras deserialize Python code stored in the file
      (`Lambda` layers), which executes it: only for files you trust
      (`--unsafe_deserialization`). Only Keras archives (`.keras`) look at it.
    import_modules: names of modules imported before loading, e.g. the
      user's module whose `@keras.saving.register_keras_serializable`
      classes the file uses (`--import`); a string is one name.

  Returns:
    A `LoadedDecoder`.

  Raises:
    ModelError: with one line saying why the spec cannot be used as a
      decoder (missing path, unknown format, several inputs, unknown latent
      size, no usable signature, ...). A module of `import_modules` or a
      `custom_objects` spec that cannot be imported, a `custom_objects` that
      is not a dict, and a Keras file with a class Keras does not know or
      with code that safe mode refuses are reported as such, naming the
      option that fixes it.
  """
  if model_format not in MODEL_FORMATS:
    raise ModelError(f'Unknown model format {model_format!r}; expected one '
                     f'of {", ".join(MODEL_FORMATS)}.')
  _import_modules(import_modules)
  custom_objects = _custom_objects_dict(custom_objects)
  if not isinstance(spec, (str, os.PathLike)):
    if model_format != 'auto':
      raise ModelError(f'model_format={model_format!r} needs a path or a py: '
                       f'spec, not a {type(spec).__name__} object.')
    return decoder_from_object(spec, latent_dim=latent_dim,
                               allow_multiple_outputs=allow_multiple_outputs)
  spec = os.fspath(spec)
  if model_format == 'auto':
    model_format = detect_format(spec)
  if model_format == 'python':
    return _load_python(spec, latent_dim, allow_multiple_outputs)
  if not os.path.exists(spec):
    raise ModelError(f'Model file not found: {spec}')
  if model_format == 'keras3':
    return _load_keras3(spec, allow_multiple_outputs, custom_objects,
                        safe_mode)
  if model_format == 'tf_keras':
    return _load_tf_keras(spec, latent_dim, allow_multiple_outputs,
                          custom_objects, safe_mode)
  return _load_saved_model(spec, signature, latent_dim, allow_multiple_outputs)


def detect_format(spec):
  """The `model_format` that 'auto' picks for a path or `py:` spec.

  Args:
    spec: a path or `py:module:attr`.

  Returns:
    One of 'keras3', 'tf_keras', 'saved_model', 'python'.

  Raises:
    ModelError: if the path is missing or of no known kind.
  """
  spec = os.fspath(spec)
  if spec.startswith(python_objects.PREFIX):
    return 'python'
  if not os.path.exists(spec):
    raise ModelError(f'Model file not found: {spec}')
  if os.path.isdir(spec):
    if not (os.path.exists(os.path.join(spec, 'saved_model.pb')) or
            os.path.exists(os.path.join(spec, 'saved_model.pbtxt'))):
      raise ModelError(
          f'{spec} is a directory without saved_model.pb; expected a '
          f'SavedModel directory (tf_keras model.save(dir) or '
          f'tf.saved_model.save).')
    if os.path.exists(os.path.join(spec, 'keras_metadata.pb')):
      return 'tf_keras'
    return 'saved_model'
  lower = spec.lower()
  if lower.endswith('.keras'):
    return 'tf_keras' if _keras_archive_major_version(spec) == 2 else 'keras3'
  if lower.endswith(('.h5', '.hdf5')):
    return 'tf_keras'
  raise ModelError(
      f'Unknown model format for {spec}: expected a .keras file, a .h5 file, '
      f'a SavedModel directory or py:module:attr (or set the model format).')


def _keras_archive_major_version(path):
  """Major Keras version recorded in a `.keras` zip, or None if unreadable."""
  try:
    with zipfile.ZipFile(path) as archive:
      metadata = json.loads(archive.read('metadata.json'))
    return int(str(metadata.get('keras_version', '')).split('.')[0])
  except (OSError, KeyError, ValueError, zipfile.BadZipFile):
    return None  # Let the Keras 3 loader say what is wrong with the file.


def _first_line(error):
  lines = str(error).strip().split('\n')
  return f'{type(error).__name__}: {lines[0]}'


def load_keras_model(path, custom_objects=None, safe_mode=True,
                     import_modules=()):
  """A Keras 3 model from a `.keras` file, with `load_decoder`'s options.

  For Keras models that are not decoders (e.g. the feature model of a
  distortion), loaded the way `load_decoder` loads a Keras 3 decoder.

  Args:
    path: a Keras 3 `.keras` file.
    custom_objects: as for `load_decoder`.
    safe_mode: as for `load_decoder`.
    import_modules: as for `load_decoder`.

  Returns:
    The Keras model, not compiled.

  Raises:
    ModelError: as `load_decoder` does for a Keras 3 file.
  """
  path = os.fspath(path)
  _import_modules(import_modules)
  custom_objects = _custom_objects_dict(custom_objects)
  if not os.path.exists(path):
    raise ModelError(f'Model file not found: {path}')
  if os.path.isdir(path) or not path.lower().endswith('.keras'):
    raise ModelError(f'{path} is not a .keras file; Keras 3 loads only '
                     f'.keras archives (try model format tf_keras or '
                     f'saved_model).')
  if not zipfile.is_zipfile(path):
    # Keras says "File not found" for a file that is there but no archive.
    raise ModelError(f'{path} is not a Keras .keras archive (a .keras file '
                     f'is the zip that model.save writes); it may be '
                     f'truncated or another kind of file.')
  import keras  # pylint: disable=g-import-not-at-top
  try:
    return keras.saving.load_model(path, custom_objects=custom_objects,
                                   compile=False, safe_mode=safe_mode)
  except Exception as error:  # pylint: disable=broad-except
    raise ModelError(f'Could not load {path} as a Keras 3 model: '
                     f'{_load_error_reason(error)}') from None


def _load_keras3(path, allow_multiple_outputs, custom_objects, safe_mode):
  model = load_keras_model(path, custom_objects=custom_objects,
                           safe_mode=safe_mode)
  return keras_decoder.describe_decoder(
      model, source=path, format='keras3',
      allow_multiple_outputs=allow_multiple_outputs)


def _import_modules(names):
  try:
    python_objects.import_modules(names or (), '--import, import_modules=')
  except python_objects.PythonObjectError as error:
    raise ModelError(str(error)) from None


def _custom_objects_dict(custom_objects):
  """`custom_objects` as a dict, its `py:` spec resolved, or None."""
  if custom_objects is None:
    return None
  if isinstance(custom_objects, (str, os.PathLike)):
    source = f'custom_objects {os.fspath(custom_objects)!r}'
    try:
      custom_objects = python_objects.resolve(os.fspath(custom_objects),
                                              'custom_objects')
    except python_objects.PythonObjectError as error:
      raise ModelError(str(error)) from None
  else:
    source = 'custom_objects'
  if not isinstance(custom_objects, collections.abc.Mapping):
    raise ModelError(
        f'{source} is a {type(custom_objects).__name__}, not a dict '
        f'{{name: class or function}} of the custom objects the model uses.')
  names = [name for name in custom_objects if not isinstance(name, str)]
  if names:
    raise ModelError(f'{source} has keys that are not names: {names[:3]!r}; '
                     f'expected a dict {{name: class or function}}.')
  return dict(custom_objects)


def _load_error_reason(error):
  """Why Keras could not load a file, naming the option that fixes it.

  Keras reports a custom class it does not know with its whole config
  (or, in tf_keras Sequential archives, as an unrelated type error), and
  Python code refused by safe mode without tfrd's options; both become one
  line that names them. Other errors keep their first line.
  """
  texts = []
  cause = error
  while cause is not None and len(texts) < 10:
    texts.append(str(cause))
    cause = cause.__cause__ or cause.__context__
  for text in texts:
    if any(marker in text for marker in _SAFE_MODE_MARKERS):
      return ('the file holds Python code (e.g. a Lambda layer) that Keras '
              'does not deserialize in safe mode, because loading it runs '
              'code from the file. If you trust the file, pass '
              '--unsafe_deserialization (Python: safe_mode=False).')
  for text in texts:
    for pattern in _UNKNOWN_OBJECT_PATTERNS:
      match = pattern.search(text)
      if match:
        return _unknown_object_reason(match)
  return _first_line(error)


def _unknown_object_reason(match):
  name = match.group('name')
  groups = match.groupdict()
  kind = groups.get('kind') or 'class'
  if kind not in ('class', 'function') and not kind.endswith(' function'):
    kind = f'{kind} class'  # tf_keras says 'layer', 'initializer', ...
  module = groups.get('module') or ''
  if module and module.split('.')[0] not in _NOT_USER_MODULES:
    saved_from = f' (saved from module {module})'
  else:
    saved_from, module = '', 'YOUR_MODULE'
  return (f'Keras does not know the custom {kind} {name!r}{saved_from}. '
          f'Import the module that defines and registers it with '
          f'--import={module}, or map {name!r} to it in a dict given with '
          f'--custom_objects=py:module:dict (Python: import_modules=, '
          f'custom_objects=).')


def _import_tf_keras():
  try:
    import tf_keras  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ModelError('Loading Keras 2 models needs the tf_keras package '
                     '(pip install tf_keras).') from None
  return tf_keras


def _load_tf_keras(path, latent_dim, allow_multiple_outputs, custom_objects,
                   safe_mode):
  tf_keras = _import_tf_keras()
  if os.path.isdir(path):
    format_name = 'tf_keras_savedmodel'
  elif path.lower().endswith('.keras'):
    format_name = 'tf_keras_keras'
  else:
    format_name = 'tf_keras_h5'
  try:
    model = tf_keras.models.load_model(path, custom_objects=custom_objects,
                                       compile=False, safe_mode=safe_mode)
  except Exception as error:  # pylint: disable=broad-except
    raise ModelError(f'Could not load {path} as a tf_keras model: '
                     f'{_load_error_reason(error)}') from None
  if not getattr(model, 'inputs', None) and latent_dim is not None:
    # A subclassed tf_keras model revived without its input layer: probe it.
    return _describe_callable(model, latent_dim, path, format_name,
                              allow_multiple_outputs)
  return keras_decoder.describe_decoder(
      model, source=path, format=format_name,
      allow_multiple_outputs=allow_multiple_outputs)


def _load_saved_model(path, signature, latent_dim, allow_multiple_outputs):
  """A plain TF SavedModel, through a signature or a tf.function attribute."""
  try:
    loaded = tf.saved_model.load(path)
  except Exception as error:  # pylint: disable=broad-except
    raise ModelError(f'Could not load {path} as a TF SavedModel: '
                     f'{_first_line(error)}') from None
  signatures = dict(getattr(loaded, 'signatures', {}) or {})
  if signature is not None and signature.startswith(_ATTR_PREFIX):
    name = signature[len(_ATTR_PREFIX):]
    call, spec = _attribute_function(loaded, name, path)
    source = f'{path} ({signature})'
  else:
    if signature is None:
      if 'serving_default' in signatures:
        signature = 'serving_default'
      elif len(signatures) == 1:
        signature = next(iter(signatures))
      else:
        raise ModelError(
            f'{path} has no serving_default signature; it has '
            f'{_list_names(signatures)}. Name one as the signature, or '
            f'use attr:NAME to call a tf.function attribute.')
    if signature not in signatures:
      raise ModelError(
          f'{path} has no signature {signature!r}; it has '
          f'{_list_names(signatures)}. Use attr:NAME to call a tf.function '
          f'attribute instead.')
    call, spec = _signature_function(signatures[signature], signature, path,
                                     allow_multiple_outputs)
    source = f'{path} (signature {signature})'
  call.loaded = loaded  # The functions need the loaded object's variables.
  dim = _latent_dim_from_spec(spec, latent_dim, source)
  return _describe_callable(call, dim, source, 'saved_model',
                            allow_multiple_outputs, dtype=spec.dtype.name)


def _list_names(names):
  names = sorted(names)
  return ('signatures ' + ', '.join(repr(n) for n in names) if names
          else 'no signatures')


def _signature_function(function, name, source, allow_multiple_outputs):
  """Wraps a signature (dicts in, dicts out) as z -> tensor(s)."""
  _, input_specs = function.structured_input_signature
  if len(input_specs) != 1:
    raise ModelError(
        f'{source}: signature {name!r} takes {len(input_specs)} inputs '
        f'({", ".join(sorted(input_specs))}); a decoder takes exactly one '
        f'latent vector.')
  input_key, spec = next(iter(input_specs.items()))
  output_specs = function.structured_outputs
  if isinstance(output_specs, dict):
    output_keys = sorted(output_specs)
  else:
    output_keys = None  # A bare tensor, which signatures rarely return.
  if output_keys is not None and len(output_keys) != 1:
    pair = _mean_logvar_keys(output_keys) if allow_multiple_outputs else None
    if pair is None:
      raise ModelError(
          f'{source}: signature {name!r} returns {len(output_keys)} outputs '
          f'({", ".join(output_keys)}); a decoder returns exactly one image'
          + (' (or a mean and a log-variance under keys mean and logvar)'
             if allow_multiple_outputs else '') + '.')
    output_keys = list(pair)

  def call(latents):
    outputs = function(**{input_key: tf.cast(latents, spec.dtype)})
    if output_keys is None:
      return outputs
    if len(output_keys) == 1:
      return outputs[output_keys[0]]
    return tuple(outputs[key] for key in output_keys)

  return call, spec


def _mean_logvar_keys(keys):
  for pair in _MEAN_LOGVAR_KEYS:
    if sorted(pair) == sorted(keys):
      return pair
  return None


def _attribute_function(loaded, name, source):
  """`loaded.NAME` (dotted names allowed), a tf.function of one tensor."""
  target = loaded
  for part in name.split('.'):
    if not hasattr(target, part):
      functions = sorted(
          attr for attr in dir(loaded)
          if not attr.startswith('_') and
          hasattr(getattr(loaded, attr, None), 'concrete_functions'))
      raise ModelError(
          f'{source} has no attribute {name!r}; its tf.function attributes '
          f'are {", ".join(functions) or "none"}.')
    target = getattr(target, part)
  if not callable(target):
    raise ModelError(f'{source}: attribute {name!r} is not callable.')
  specs = getattr(target, 'input_signature', None)
  if specs is None:
    concrete = list(getattr(target, 'concrete_functions', []) or [])
    if len(concrete) != 1:
      raise ModelError(
          f'{source}: attribute {name!r} has no fixed input_signature '
          f'({len(concrete)} traced versions); export it with '
          f'@tf.function(input_signature=[tf.TensorSpec([None, D])]).')
    args, kwargs = concrete[0].structured_input_signature
    specs = tuple(args) + tuple(kwargs.values())
  specs = [s for s in tf.nest.flatten(specs) if isinstance(s, tf.TensorSpec)]
  if len(specs) != 1:
    raise ModelError(
        f'{source}: attribute {name!r} takes {len(specs)} tensor inputs; a '
        f'decoder takes exactly one latent vector.')
  spec = specs[0]

  def call(latents):
    return target(tf.cast(latents, spec.dtype))

  return call, spec


def _latent_dim_from_spec(spec, latent_dim, source):
  shape = spec.shape
  if shape.rank != 2:
    raise ModelError(f'{source} takes input shape {shape}; expected '
                     f'(batch, latent_dim).')
  known = shape[1]
  if known is None:
    if latent_dim is None:
      raise ModelError(f'{source} takes input shape {shape}: unknown latent '
                       f'size; give latent_dim.')
    return int(latent_dim)
  if latent_dim is not None and int(latent_dim) != int(known):
    raise ModelError(f'{source} takes latent vectors of size {known}, not '
                     f'the latent_dim {latent_dim} given.')
  return int(known)


def _load_python(spec, latent_dim, allow_multiple_outputs):
  """`py:package.module:attr`: import the module and take the attribute."""
  try:
    target = python_objects.resolve(spec, 'Python decoder spec')
  except python_objects.PythonObjectError as error:
    raise ModelError(str(error)) from None
  return decoder_from_object(target, latent_dim=latent_dim, source=spec,
                             allow_multiple_outputs=allow_multiple_outputs,
                             format='python')


def decoder_from_object(obj, latent_dim=None, source=None,
                        allow_multiple_outputs=False,
                        format=None):  # pylint: disable=redefined-builtin
  """Wraps an in-memory decoder as a `LoadedDecoder`.

  Args:
    obj: a Keras 3 or tf_keras model with one input, a `LoadedDecoder`
      (returned as is), or a callable z [B, D] -> outputs [B, ...] whose
      latent size comes from `latent_dim`, its `latent_dim` attribute, or
      its tf.function `input_signature`.
    latent_dim: the latent size, where the object does not say it.
    source: description for messages and `curve.json`; the type by default.
    allow_multiple_outputs: accept several output tensors.
    format: the `LoadedDecoder.format` to record; by default
      'keras3_object', 'tf_keras_object' or 'callable'.

  Returns:
    A `LoadedDecoder`.

  Raises:
    ModelError: if the object is not callable, has several inputs, or its
      latent size is unknown.
  """
  if isinstance(obj, LoadedDecoder):
    return obj
  source = source or f'<{type(obj).__module__}.{type(obj).__name__}>'
  family = _keras_family(obj)
  if family is not None:
    format = format or f'{family}_object'
    if getattr(obj, 'inputs', None) or latent_dim is None:
      return keras_decoder.describe_decoder(
          obj, source=source, format=format,
          allow_multiple_outputs=allow_multiple_outputs)
    return _describe_callable(obj, latent_dim, source, format,
                              allow_multiple_outputs)
  if not callable(obj):
    raise ModelError(f'{source} is not callable, so it cannot be a decoder.')
  dtype = 'float32'
  dim = latent_dim if latent_dim is not None else getattr(obj, 'latent_dim',
                                                          None)
  specs = getattr(obj, 'input_signature', None)
  if specs:  # A tf.function with a fixed signature states its input size.
    specs = [s for s in tf.nest.flatten(specs) if isinstance(s, tf.TensorSpec)]
    if len(specs) != 1:
      raise ModelError(f'{source} takes {len(specs)} tensor inputs; a decoder '
                       f'takes exactly one latent vector.')
    dim = _latent_dim_from_spec(specs[0], dim, source)
    dtype = specs[0].dtype.name
  if dim is None:
    raise ModelError(
        f'{source}: unknown latent size; give the callable a latent_dim '
        f'attribute or pass latent_dim.')
  return _describe_callable(obj, int(dim), source, format or 'callable',
                            allow_multiple_outputs, dtype=dtype)


def _keras_family(obj):
  """'keras3' or 'tf_keras' for Keras models, else None.

  Looks only at Keras packages already imported: an object of a package that
  was never imported cannot be its model, and importing tf_keras costs
  seconds.
  """
  for name, family in (('keras', 'keras3'), ('tf_keras', 'tf_keras')):
    package = sys.modules.get(name)
    model_class = getattr(package, 'Model', None)
    if model_class is not None and isinstance(obj, model_class):
      return family
  return None


def _describe_callable(fn, latent_dim, source, format_name,
                       allow_multiple_outputs, dtype='float32'):
  """A `LoadedDecoder` whose output shapes come from one call on zeros."""
  latent_dim = int(latent_dim)
  if latent_dim < 1:
    raise ModelError(f'{source}: latent size must be positive, got '
                     f'{latent_dim}.')
  decoder = LoadedDecoder(fn, latent_dim, (), dtype=dtype, source=source,
                          format=format_name)
  try:
    outputs = decoder(tf.zeros([_PROBE_BATCH, latent_dim], dtype))
  except Exception as error:  # pylint: disable=broad-except
    raise ModelError(
        f'{source}: calling it on zeros of shape [{_PROBE_BATCH}, '
        f'{latent_dim}] failed: {_first_line(error)}') from None
  if isinstance(outputs, dict):
    if len(outputs) != 1:
      raise ModelError(f'{source} returns a dict with keys '
                       f'{", ".join(sorted(outputs))}; a decoder returns one '
                       f'tensor.')
    outputs = next(iter(outputs.values()))
  flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
  if len(flat) != 1 and not (allow_multiple_outputs and flat):
    raise ModelError(
        f'{source} returns {len(flat)} outputs; a decoder must return one '
        f'image tensor (or, with output kind mean_logvar, a mean and a '
        f'log-variance).')
  shapes = []
  for output in flat:
    shape = tuple(tf.convert_to_tensor(output).shape)
    if len(shape) < 2 or shape[0] != _PROBE_BATCH:
      raise ModelError(
          f'{source} maps latents [{_PROBE_BATCH}, {latent_dim}] to shape '
          f'{shape}; expected [{_PROBE_BATCH}, ...] (one output per latent).')
    shapes.append(shape[1:])
  return LoadedDecoder(fn, latent_dim, shapes[0], dtype=dtype, source=source,
                       format=format_name, raw_output_shapes=shapes)
