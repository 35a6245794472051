"""The README as a new user meets it: short, its links alive, its code running.

- README.md has at most 250 lines, and every link into docs/ (and every
  relative link between the docs/ pages) names a file that exists;
- it holds, verbatim, the install + main job command and the test command
  (CI, `.ci/run`, runs the latter as written);
- its Python example runs as written, from the repository root, printing
  progress while it samples and the curve at the end (slow: a short AIS run).
"""

import os
import re
import subprocess
import sys
import time

import pytest

# The repository root. Under `bazel test` this file is a runfiles symlink;
# the README is found through its real path.
_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
_README = os.path.join(_ROOT, 'README.md')
_DOCS = os.path.join(_ROOT, 'docs')

MAX_LINES = 250

MAIN_JOB_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[tf,dev]" && '
    'TFRD_DATA_DIR=../shared/data .venv/bin/python -m apps.rd_curve '
    '--output_dir=runs/gan')
TEST_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[tf,dev]" && '
    'TFRD_DATA_DIR=../shared/data .venv/bin/python -m pytest tests')

# Markdown links and images: [text](target) / ![alt](target).
_LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
# A line of ProgressPrinter: "[reported 2/2] points 3/10  transition ...".
_PROGRESS_LINE = re.compile(
    r'^\[(preliminary|reported) \d+/\d+\] points \d+/\d+  transition \d+/\d+',
    re.MULTILINE)


def _readme():
  if not os.path.isfile(_README):
    pytest.skip(f'no README.md at {_README}')
  with open(_README, encoding='utf-8') as f:
    return f.read()


def _relative_targets(text):
  """(path, anchor) of the links to files in the repository (no URLs)."""
  targets = []
  for target in _LINK.findall(text):
    if re.match(r'^[a-z][a-z0-9+.-]*:', target) or target.startswith('#'):
      continue  # http:, https:, mailto:, or an anchor in the same page.
    path, _, anchor = target.partition('#')
    targets.append((path, anchor))
  return targets


def _anchors(markdown_path):
  """The anchors GitHub gives the headings of a Markdown file."""
  with open(markdown_path, encoding='utf-8') as f:
    text = re.sub(r'^```.*?^```', '', f.read(), flags=re.MULTILINE | re.DOTALL)
  anchors = set()
  for heading in re.findall(r'^#+\s+(.*?)\s*$', text, re.MULTILINE):
    slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
    anchors.add(slug)
  return anchors


def _broken(base_dir, targets):
  """The targets that name no file, or no heading of the file they name."""
  broken = []
  for path, anchor in targets:
    full = os.path.join(base_dir, path)
    if not os.path.exists(full):
      broken.append(path)
    elif anchor and full.endswith('.md') and anchor not in _anchors(full):
      broken.append(f'{path}#{anchor}')
  return broken


def test_readme_is_at_most_250_lines():
  num_lines = len(_readme().splitlines())
  assert num_lines <= MAX_LINES, (
      f'README.md has {num_lines} lines; at most {MAX_LINES}: move details '
      f'to a page under docs/ and link it.')


def test_every_docs_link_of_the_readme_exists():
  targets = [(path, anchor) for path, anchor in _relative_targets(_readme())
             if path.startswith('docs/')]
  assert targets, 'README.md links no page under docs/'
  broken = _broken(_ROOT, targets)
  assert not broken, f'README.md links missing files or headings: {broken}'


def test_every_relative_link_between_docs_pages_exists():
  if not os.path.isdir(_DOCS):
    pytest.skip(f'no docs/ at {_DOCS}')
  missing = []
  for name in sorted(os.listdir(_DOCS)):
    if not name.endswith('.md'):
      continue
    with open(os.path.join(_DOCS, name), encoding='utf-8') as f:
      text = f.read()
    missing += [f'docs/{name} -> {target}'
                for target in _broken(_DOCS, _relative_targets(text))]
  assert not missing, f'broken links: {missing}'


def test_readme_holds_the_main_job_and_test_commands_verbatim():
  lines = _readme().splitlines()
  assert MAIN_JOB_COMMAND in lines, (
      'README.md must hold the install + main job command on a line of its '
      f'own:\n{MAIN_JOB_COMMAND}')
  assert TEST_COMMAND in lines, (
      'README.md must hold the test command on a line of its own (CI runs '
      f'it as written):\n{TEST_COMMAND}')


def _python_example(text):
  blocks = re.findall(r'^```python\n(.*?)^```', text,
                      re.MULTILINE | re.DOTALL)
  assert len(blocks) == 1, (
      f'README.md should hold exactly one ```python block, found '
      f'{len(blocks)}')
  return blocks[0]


def test_readme_has_one_python_example():
  code = _python_example(_readme())
  compile(code, 'README.md', 'exec')  # At least it parses.


@pytest.mark.slow
def test_python_example_runs_as_written():
  """The example, verbatim, from the repository root, as the README says."""
  data_dir = os.environ.get('TFRD_DATA_DIR')
  if not data_dir:
    pytest.skip('TFRD_DATA_DIR is not set (the README example reads MNIST '
                'through it).')
  code = _python_example(_readme())
  env = dict(os.environ)
  # Relative to where the tests were started, as the README's command sets
  # it; the example runs from the repository root.
  env['TFRD_DATA_DIR'] = os.path.abspath(data_dir)
  started = time.time()
  result = subprocess.run(
      [sys.executable, '-c', code], cwd=_ROOT, env=env, capture_output=True,
      text=True, timeout=1200, check=False)
  output = f'stdout:\n{result.stdout}\nstderr:\n{result.stderr}'
  assert result.returncode == 0, output
  progress_lines = _PROGRESS_LINE.findall(result.stderr)
  assert len(progress_lines) >= 2, f'no progress lines\n{output}'
  assert 'preliminary' in progress_lines and 'reported' in progress_lines, (
      output)
  curve_lines = [line for line in result.stdout.splitlines()
                 if line.startswith('beta ') and 'rate' in line]
  assert len(curve_lines) == 10, output  # num_rd_points=10 in the example.
  # TensorFlow's start-up notices are filtered, as in the apps.
  assert 'absl::InitializeLog' not in result.stderr, output
  for kind in ('json', 'csv', 'npz', 'png'):
    path = os.path.join(_ROOT, 'runs', 'python_api', f'curve.{kind}')
    assert os.path.isfile(path) and os.path.getmtime(path) >= started - 1, (
        f'{path} not written by this run')
