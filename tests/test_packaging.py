"""What `pip install` asks of a user's environment (issue 34, item 5).

- setup.py gives ranges, never exact versions, so tfrd installs beside a
  user's own TensorFlow within them;
- tf-keras is only in the `tf` and `cuda` extras (required, pip would
  replace an environment's TensorFlow to fit the newest tf-keras), and
  without it tfrd's TFP import names the release to install;
- constraints.txt pins, exactly, every requirement setup.py names, each pin
  inside setup.py's range: the README's commands and CI install with it.
"""

import importlib
import os
import runpy
import sys

from packaging import requirements
import pytest
import setuptools

_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _setup_arguments():
  """The keyword arguments setup.py passes to `setuptools.setup`."""
  captured = {}
  original = setuptools.setup
  setuptools.setup = lambda **kwargs: captured.update(kwargs)
  cwd = os.getcwd()
  try:
    os.chdir(_ROOT)
    runpy.run_path(os.path.join(_ROOT, 'setup.py'), run_name='__main__')
  finally:
    setuptools.setup = original
    os.chdir(cwd)
  return captured


def _requirements():
  """Every requirement of setup.py: install_requires, then each extra's."""
  arguments = _setup_arguments()
  named = list(arguments['install_requires'])
  for extra in arguments['extras_require'].values():
    named.extend(extra)
  return [requirements.Requirement(text) for text in named]


def _constraints():
  """constraints.txt as {normalized name: exact version}."""
  pins = {}
  with open(os.path.join(_ROOT, 'constraints.txt')) as stream:
    for line in stream:
      line = line.split('#', 1)[0].strip()
      if not line:
        continue
      name, separator, version = line.partition('==')
      assert separator, f'constraints.txt pins exactly; got {line!r}'
      pins[_normalized(name)] = version
  return pins


def _normalized(name):
  return name.lower().replace('_', '-').replace('.', '-')


def test_setup_gives_ranges_not_pins():
  for requirement in _requirements():
    exact = [spec for spec in requirement.specifier
             if spec.operator in ('==', '===')]
    assert not exact, f'{requirement} pins a version: give a range'
    assert str(requirement.specifier), f'{requirement} has no range'


def test_tf_keras_only_in_extras():
  arguments = _setup_arguments()
  required = {_normalized(requirements.Requirement(text).name)
              for text in arguments['install_requires']}
  assert 'tf-keras' not in required
  assert any(requirements.Requirement(text).name == 'tf-keras'
             for text in arguments['extras_require']['tf'])


def test_constraints_pin_every_requirement_within_its_range():
  pins = _constraints()
  for requirement in _requirements():
    name = _normalized(requirement.name)
    assert name in pins, f'constraints.txt does not pin {requirement.name}'
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f'constraints.txt pins {requirement.name}=={pins[name]}, outside '
        f'setup.py\'s {requirement.specifier}')


def test_missing_tf_keras_names_the_release_to_install(monkeypatch):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfrd.probability  # pylint: disable=g-import-not-at-top
  # None in sys.modules makes `import tf_keras` raise ImportError.
  monkeypatch.setitem(sys.modules, 'tf_keras', None)
  major_minor = '.'.join(tf.__version__.split('.')[:2])
  with pytest.raises(ImportError, match=(
      rf'tfrd needs tf-keras {major_minor}.*pip install '
      rf'"tf-keras~={major_minor}\.0"')):
    importlib.reload(tfrd.probability)
  monkeypatch.undo()
  importlib.reload(tfrd.probability)  # As it was, for later tests.
