"""`py:package.module:attribute` references and user modules, imported.

The apps take Python objects by reference (`--model=py:...`, `--prior=py:...`,
`--custom_objects=py:...`) and import user modules by name (`--import`).
`resolve` and `import_module` are the one place that parses and imports them,
so every flag reports a bad reference with the same one-line message.
"""

import importlib

__all__ = ['PythonObjectError', 'PREFIX', 'parse', 'resolve', 'import_module',
           'import_modules']

PREFIX = 'py:'


class PythonObjectError(ValueError):
  """A reference cannot be parsed or imported; the message says why."""


def parse(spec, what='Python object spec'):
  """(module name, attribute path) of `py:package.module:attr`.

  Args:
    spec: `py:package.module:attr`; the `py:` prefix may be left out. The
      attribute may be dotted (`module:Class.method`).
    what: what the spec is, for messages (e.g. 'prior').

  Returns:
    (module_name, attribute) strings.

  Raises:
    PythonObjectError: if the module or the attribute is missing.
  """
  text = str(spec)
  reference = text[len(PREFIX):] if text.startswith(PREFIX) else text
  module_name, _, attr = reference.partition(':')
  if not module_name or not attr:
    raise PythonObjectError(f'Bad {what} {text!r}; expected '
                            f'py:package.module:attribute.')
  return module_name, attr


def resolve(spec, what='Python object spec'):
  """The object `py:package.module:attr` names, its module imported.

  Args:
    spec: as for `parse`.
    what: what the spec is, for messages (e.g. 'prior').

  Returns:
    The attribute's value.

  Raises:
    PythonObjectError: for a malformed spec, a module that cannot be
      imported (with the import error's first line), or a missing attribute.
  """
  module_name, attr = parse(spec, what)
  module = import_module(module_name, f'{what} {str(spec)!r}')
  target = module
  for part in attr.split('.'):
    if not hasattr(target, part):
      raise PythonObjectError(f'Module {module_name} has no attribute '
                              f'{attr!r} ({what} {str(spec)!r}).')
    target = getattr(target, part)
  return target


def import_module(name, purpose=None):
  """Imports a module by name, with a one-line error.

  Args:
    name: dotted module name.
    purpose: what needs it, for the message (e.g. '--import').

  Returns:
    The module.

  Raises:
    PythonObjectError: naming the module and the import error's first line;
      any exception raised while the module runs counts as failing to
      import it.
  """
  try:
    return importlib.import_module(name)
  except Exception as error:  # pylint: disable=broad-except
    lines = str(error).strip().split('\n')
    needed_by = f' ({purpose})' if purpose else ''
    raise PythonObjectError(f'Could not import {name}{needed_by}: '
                            f'{type(error).__name__}: {lines[0]}') from None


def import_modules(names, purpose=None):
  """Imports each module in turn (see `import_module`).

  Args:
    names: an iterable of dotted module names; a single string is one name.
    purpose: as for `import_module`.

  Returns:
    The list of modules.

  Raises:
    PythonObjectError: for the first module that cannot be imported, or an
      empty name.
  """
  if isinstance(names, str):
    names = [names]
  modules = []
  for name in names:
    if not str(name).strip():
      raise PythonObjectError('Empty module name to import.')
    modules.append(import_module(str(name).strip(), purpose))
  return modules
