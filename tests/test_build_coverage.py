"""Checks that every Python file of the project belongs to some Bazel target.

Pure Python, no Bazel needed: the BUILD files are parsed as text (Starlark is
close enough to Python for ``ast``). A ``*.py`` file counts as covered when the
BUILD file of its package (the nearest enclosing directory with a
``BUILD.bazel`` or ``BUILD`` file, as in Bazel) either names it explicitly
(``"foo.py"``, ``":foo.py"`` or ``"//pkg:foo.py"``) or matches one of the
patterns of a ``glob([...], exclude = [...])`` call in it, with Bazel's glob
rules: ``*`` stays within one path segment, ``**`` spans any number of them.
"""

import ast
import fnmatch
import os
from pathlib import Path

import pytest

# Directories whose Python files must be covered; top-level *.py files
# (setup.py) are checked as well.
CHECKED_DIRS = ("tfrd", "adapters", "pipelines", "apps", "benchmarks", "tests", "zoo")
BUILD_FILE_NAMES = ("BUILD.bazel", "BUILD")  # Bazel prefers BUILD.bazel.


def _build_file(directory):
    for name in BUILD_FILE_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _owning_package(root, path):
    """Return (package_dir, build_file) of the nearest enclosing package."""
    directory = path.parent
    while True:
        build_file = _build_file(directory)
        if build_file is not None:
            return directory, build_file
        if directory == root:
            return None, None
        directory = directory.parent


def glob_match(pattern, path):
    """Whether a Bazel glob ``pattern`` matches the relative ``path``."""
    return _match_segments(pattern.split("/"), path.split("/"))


def _match_segments(pattern, parts):
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match_segments(rest, parts[1:])


def _strings(node, env):
    """The string list an expression evaluates to (best effort), else []."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for elt in node.elts for s in _strings(elt, env)]
    if isinstance(node, ast.Name):
        return list(env.get(node.id, []))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _strings(node.left, env) + _strings(node.right, env)
    return []


def parse_build_file(text):
    """Return (globs, strings) for a BUILD file's text.

    globs: list of (include_patterns, exclude_patterns), one per glob() call;
    strings: every string literal in the file (explicitly listed files).
    """
    tree = ast.parse(text)
    env = {}  # Top-level `NAME = [...]` assignments of string lists.
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                env[target.id] = _strings(stmt.value, env)
    globs = []
    strings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "glob"
        ):
            include, exclude = [], []
            if node.args:
                include = _strings(node.args[0], env)
            if len(node.args) > 1:
                exclude = _strings(node.args[1], env)
            for keyword in node.keywords:
                if keyword.arg == "include":
                    include = _strings(keyword.value, env)
                elif keyword.arg == "exclude":
                    exclude = _strings(keyword.value, env)
            globs.append((include, exclude))
    return globs, strings


def is_covered(relpath, package, globs, strings):
    """Whether ``relpath`` (relative to its package) is in some target."""
    label_package = package.replace(os.sep, "/")
    if {relpath, ":" + relpath, "//%s:%s" % (label_package, relpath)} & strings:
        return True
    for include, exclude in globs:
        if any(glob_match(p, relpath) for p in include) and not any(
            glob_match(p, relpath) for p in exclude
        ):
            return True
    return False


def _python_files(root, dirs):
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    for name in dirs:
        top = root / name
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith((".", "bazel-")) and d != "__pycache__"
            )
            files.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    return files


def find_uncovered(root, dirs=CHECKED_DIRS):
    """Return the sorted repo-relative paths of Python files in no target."""
    root = Path(root)
    parsed = {}
    uncovered = []
    for path in _python_files(root, dirs):
        package_dir, build_file = _owning_package(root, path)
        rel_to_root = path.relative_to(root).as_posix()
        if build_file is None:
            uncovered.append(rel_to_root)
            continue
        if build_file not in parsed:
            parsed[build_file] = parse_build_file(build_file.read_text())
        globs, strings = parsed[build_file]
        package = package_dir.relative_to(root).as_posix()
        package = "" if package == "." else package
        relpath = path.relative_to(package_dir).as_posix()
        if not is_covered(relpath, package, globs, strings):
            uncovered.append(rel_to_root)
    return sorted(uncovered)


def _workspace_root():
    # Under `bazel test` this file is a runfiles symlink; resolve() leads back
    # to the real source tree, which is what must be checked.
    return Path(__file__).resolve().parent.parent


def test_every_python_file_is_in_a_bazel_target():
    root = _workspace_root()
    if not (root / "WORKSPACE").is_file():
        pytest.skip("no Bazel WORKSPACE next to tests/ (not a source checkout)")
    uncovered = find_uncovered(root)
    assert uncovered == [], (
        "Python files not covered by any Bazel target (add them to a BUILD "
        "file or extend a glob): %s" % uncovered
    )


def test_checker_reports_uncovered_files(tmp_path):
    def write(relpath, text=""):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("WORKSPACE")
    write("setup.py")  # No root BUILD file: uncovered.
    write(
        "tfrd/BUILD.bazel",
        'py_library(name = "tfrd", srcs = glob(["*.py"], exclude = ["skip_*.py"]))\n',
    )
    write("tfrd/__init__.py")
    write("tfrd/core.py")
    write("tfrd/skip_me.py")  # Excluded by the glob: uncovered.
    write("tfrd/sub/deep.py")  # "*" does not cross "/": uncovered.
    write("tfrd/own/BUILD", 'py_library(name = "own", srcs = ["listed.py"])\n')
    write("tfrd/own/listed.py")  # Own package, listed explicitly.
    write("tfrd/own/stray.py")  # Own package, not listed: uncovered.
    write(
        "apps/BUILD.bazel",
        '_PATTERNS = ["**/*.py"]\n'
        'py_library(name = "apps", srcs = glob(include = _PATTERNS))\n',
    )
    write("apps/__init__.py")
    write("apps/nested/deeper/tool.py")  # "**" spans directories: covered.
    write("tests/BUILD.bazel", '[py_test(name = f[:-3], srcs = [f]) for f in ["test_a.py"]]\n')
    write("tests/test_a.py")
    write("tests/test_b.py")  # Not listed: uncovered.
    write("benchmarks/bench.py")  # No BUILD file at all: uncovered.
    write("tfrd/__pycache__/ignored.py")  # Caches are skipped.
    write("docs/not_checked.py")  # Outside the checked directories.

    assert find_uncovered(tmp_path) == [
        "benchmarks/bench.py",
        "setup.py",
        "tests/test_b.py",
        "tfrd/own/stray.py",
        "tfrd/skip_me.py",
        "tfrd/sub/deep.py",
    ]

    # Covering them makes the checker pass.
    write("BUILD.bazel", 'exports_files(["setup.py"])\n')
    write("benchmarks/BUILD.bazel", 'py_library(name = "b", srcs = glob(["**/*.py"]))\n')
    write("tests/BUILD.bazel", '[py_test(name = f[:-3], srcs = [f]) for f in glob(["test_*.py"])]\n')
    write("tfrd/own/BUILD", 'py_library(name = "own", srcs = [":listed.py", "//tfrd/own:stray.py"])\n')
    write("tfrd/BUILD.bazel", 'py_library(name = "tfrd", srcs = glob(["**/*.py"]))\n')
    assert find_uncovered(tmp_path) == []


def bazelignore_entries(text):
    """The paths a ``.bazelignore`` lists (Bazel skips ``#`` comment lines)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line.rstrip("/"))
    return entries


def test_bazelignore_lists_the_virtual_environment():
    # The TensorFlow wheel ships BUILD.bazel files under
    # site-packages/tensorflow/include/external/ that load rules this
    # workspace lacks, so `bazel build //...` fails in a checkout holding the
    # README's `.venv` unless Bazel is told to skip it.
    root = _workspace_root()
    if not (root / "WORKSPACE").is_file():
        pytest.skip("no Bazel WORKSPACE next to tests/ (not a source checkout)")
    bazelignore = root / ".bazelignore"
    assert bazelignore.is_file(), ".bazelignore is missing from the workspace root"
    entries = bazelignore_entries(bazelignore.read_text())
    assert ".venv" in entries, ".bazelignore does not list .venv: %s" % entries
    # Any other virtual environment in the checkout breaks `//...` the same way.
    venvs = sorted(
        p.name for p in root.iterdir() if (p / "pyvenv.cfg").is_file()
    )
    missing = [name for name in venvs if name not in entries]
    assert missing == [], (
        "virtual environments not listed in .bazelignore (add them): %s" % missing
    )


def test_bazelignore_entries():
    text = "# comment\n\n.venv\n  venv/  \n#env\nruns/old\n"
    assert bazelignore_entries(text) == [".venv", "venv", "runs/old"]


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("*.py", "a.py", True),
        ("*.py", "sub/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "sub/deeper/a.py", True),
        ("sub/**", "sub/x/y.txt", True),
        ("test_*.py", "test_x.py", True),
        ("test_*.py", "conftest.py", False),
        ("**/test_*.py", "unit/test_x.py", True),
        ("__init__.py", "__init__.py", True),
    ],
)
def test_glob_match(pattern, path, expected):
    assert glob_match(pattern, path) is expected
