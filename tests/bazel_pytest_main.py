"""Entry point for the Bazel ``py_test`` targets in ``tests/BUILD.bazel``.

Each test target passes the path of its pytest file (relative to the runfiles
root, which is Bazel's working directory for tests) as the argument; this runs
pytest on it and exits with pytest's exit code. Test files therefore stay plain
pytest modules without a ``__main__`` block.

Bazel integration:
  * ``--test_filter=EXPR`` (env ``TESTBRIDGE_TEST_ONLY``) becomes ``-k EXPR``;
  * a JUnit XML report goes to ``XML_OUTPUT_FILE`` (shown per test case by
    Bazel);
  * pytest's temporary directories live under ``TEST_TMPDIR``;
  * no ``.pytest_cache`` and no ``__pycache__`` are written into the runfiles.
"""

import os
import sys

sys.dont_write_bytecode = True

import pytest  # noqa: E402


def build_pytest_args(argv, environ):
    """Return the pytest command line for test paths ``argv``."""
    if not argv:
        raise SystemExit("usage: bazel_pytest_main.py TEST_FILE [PYTEST_ARGS...]")
    args = ["-v", "-ra", "-p", "no:cacheprovider"]
    xml_output = environ.get("XML_OUTPUT_FILE")
    if xml_output:
        args.append("--junitxml=" + xml_output)
    test_tmpdir = environ.get("TEST_TMPDIR")
    if test_tmpdir:
        args.append("--basetemp=" + os.path.join(test_tmpdir, "pytest"))
    test_filter = environ.get("TESTBRIDGE_TEST_ONLY")
    if test_filter:
        args.extend(["-k", test_filter])
    return args + list(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return int(pytest.main(build_pytest_args(argv, os.environ)))


if __name__ == "__main__":
    sys.exit(main())
