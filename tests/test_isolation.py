"""The ``isolated`` marker: a native crash fails one test, and the run reaches its summary."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

CRASHING_MODULE = textwrap.dedent("""
    import ctypes
    import os
    import sys

    import pytest

    pytestmark = pytest.mark.isolated

    @pytest.fixture(scope="module")
    def pid():
        return os.getpid()

    def test_before(pid):
        assert pid != int(os.environ["PARENT_PID"])   # ran in a child process

    def test_native_crash():
        sys.stderr.write("about to read address 0 in native code\\n")
        sys.stderr.flush()
        ctypes.string_at(0)                          # SIGSEGV inside libc

    def test_after(pid):
        assert pid != int(os.environ["PARENT_PID"])

    @pytest.mark.isolated
    def test_plain_failure():
        assert 1 == 2, "an ordinary failure is reported as usual"
""")

PLAIN_MODULE = textwrap.dedent("""
    import os

    def test_in_the_parent():
        assert os.getpid() == int(os.environ["PARENT_PID"])
""")


# The parent exports its own pid, so each test can tell where it ran.
LAUNCHER = """
import os, sys
os.environ["PARENT_PID"] = str(os.getpid())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_a_segfault_fails_one_test_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_native.py").write_text(CRASHING_MODULE)
    (tmp_path / "test_plain.py").write_text(PLAIN_MODULE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: no project addopts
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("OSSRAG_ISOLATED_CHILD", None)
    cmd = [
        sys.executable,
        "-c",
        LAUNCHER,
        "-p",
        "isolation",
        "-p",
        "no:cacheprovider",
        "-rA",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 failed, 3 passed" in out, out  # the summary line was reached
    assert "was killed by SIGSEGV while running test_native.py::test_native_crash" in out
    assert "about to read address 0 in native code" in out  # the child's stderr
    assert "Fatal Python error: Segmentation fault" in out  # faulthandler's traceback
    assert "an ordinary failure is reported as usual" in out
    assert "PASSED test_native.py::test_after" in out  # the tests after the crash ran


def test_a_module_ending_in_isolated_tests_is_torn_down_before_the_next(tmp_path: Path) -> None:
    """The parent still tears down what the next test does not share (here a module fixture
    whose module ends with an isolated test), as pytest's own protocol does after each test."""
    (tmp_path / "test_a.py").write_text(
        textwrap.dedent("""
        import pytest

        @pytest.fixture(scope="module")
        def resource():
            yield "open"

        def test_plain(resource):
            assert resource == "open"

        @pytest.mark.isolated
        def test_isolated_last():
            assert True
    """)
    )
    (tmp_path / "test_b.py").write_text("def test_next():\n    assert True\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("OSSRAG_ISOLATED_CHILD", None)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "isolation",
        "-p",
        "no:cacheprovider",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "3 passed" in out and "error" not in out.lower(), out
