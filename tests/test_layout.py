"""The layout's rules, read from the source (ast): who may import whom,
where absl flags are read, and how many parameters a function takes.

DESIGN.md and the issue that set them: tfrd imports nothing from adapters,
zoo, pipelines or apps; pipelines and benchmarks import nothing from apps;
flags are read only in an app's (or benchmark's) `main` and in functions
named `*_from_flags`; no function takes more than 10 parameters (settings
values group them, as `tfrd.HMCSettings` does).
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOMS = ('tfrd', 'adapters', 'zoo', 'pipelines', 'apps', 'benchmarks')
MAX_PARAMETERS = 10

# Rooms each room may not import.
FORBIDDEN_IMPORTS = {
    'tfrd': ('adapters', 'zoo', 'pipelines', 'apps', 'benchmarks'),
    'adapters': ('zoo', 'pipelines', 'apps', 'benchmarks'),
    'zoo': ('pipelines', 'apps', 'benchmarks'),
    'pipelines': ('apps', 'benchmarks'),
    'benchmarks': ('apps',),
    'apps': ('benchmarks',),
}


def _modules(room):
  directory = os.path.join(REPO, room)
  for root, _, names in os.walk(directory):
    for name in sorted(names):
      if name.endswith('.py'):
        path = os.path.join(root, name)
        with open(path, encoding='utf-8') as stream:
          yield os.path.relpath(path, REPO), ast.parse(stream.read())


def _functions(tree):
  return [node for node in ast.walk(tree)
          if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _parameters(function):
  arguments = function.args
  names = [a.arg for a in (arguments.posonlyargs + arguments.args +
                           arguments.kwonlyargs)]
  count = len(names) + bool(arguments.vararg) + bool(arguments.kwarg)
  return count - (names[:1] in (['self'], ['cls']))


def _imported_rooms(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name.split('.')[0]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.module.split('.')[0]


@pytest.mark.parametrize('room', ROOMS)
def test_no_function_takes_more_than_ten_parameters(room):
  crowded = [f'{path}:{function.lineno} {function.name} '
             f'({_parameters(function)})'
             for path, tree in _modules(room)
             for function in _functions(tree)
             if _parameters(function) > MAX_PARAMETERS]
  assert not crowded


@pytest.mark.parametrize('room', sorted(FORBIDDEN_IMPORTS))
def test_rooms_import_only_the_floors_below(room):
  wrong = [f'{path} imports {imported}'
           for path, tree in _modules(room)
           for imported in _imported_rooms(tree)
           if imported in FORBIDDEN_IMPORTS[room]]
  assert not wrong


@pytest.mark.parametrize('room', ['tfrd', 'adapters', 'zoo', 'pipelines'])
def test_libraries_read_no_flags(room):
  readers = [path for path, tree in _modules(room)
             for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module == 'absl'
             and any(alias.name == 'flags' for alias in node.names)]
  assert not readers


def _reads_flags(function):
  return any(isinstance(node, ast.Name) and node.id == 'FLAGS'
             for node in ast.walk(function))


@pytest.mark.parametrize('room', ['apps', 'benchmarks'])
def test_flags_are_read_only_in_main_and_from_flags(room):
  readers = []
  for path, tree in _modules(room):
    for function in _functions(tree):
      if function.name == 'main' or function.name.endswith('_from_flags'):
        continue
      # A function nested in main (or in a *_from_flags) belongs to it.
      if _reads_flags(function) and not any(
          function in ast.walk(outer) for outer in _functions(tree)
          if outer is not function and (outer.name == 'main' or
                                        outer.name.endswith('_from_flags'))):
        readers.append(f'{path}:{function.lineno} {function.name}')
  assert not readers


def test_the_rules_catch_what_they_forbid():
  # The checks themselves, on a module that breaks each rule.
  tree = ast.parse(
      'from apps import cli\n'
      'def wide(a, b, c, d, e, f, g, h, i, j, k):\n  return FLAGS.x\n'
      'def main(argv):\n  def inner():\n    return FLAGS.y\n  return inner\n')
  functions = {f.name: f for f in _functions(tree)}
  assert _parameters(functions['wide']) == 11
  assert _reads_flags(functions['wide']) and _reads_flags(functions['inner'])
  assert list(_imported_rooms(tree)) == ['apps']
