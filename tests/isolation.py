"""Run tests marked ``isolated`` in a child pytest process, so a native crash fails one test.

In-process native model code (llama.cpp through llama-cpp-python) can die
with SIGSEGV; in the pytest process that would end the whole run with no
summary. Tests that run such code carry the marker::

    pytestmark = pytest.mark.isolated          # a whole module
    @pytest.mark.isolated                      # or one test

and this plugin runs them in a child ``python -m pytest`` instead: all the
isolated tests of one module in one child (module fixtures are built once),
their reports replayed into this session (terminal, ``-ra``, junitxml see
them as if they ran here). When the child dies, the test it was running is
reported failed with the signal and the child's stderr (faulthandler's
traceback included), and the module's remaining tests run in a new child.

Why not pytest-xdist or pytest-forked: xdist reports a crashed worker
without its stderr and isolates every test, not the native ones; forking a
process that already runs gRPC (Milvus Lite) and OpenMP threads is unsafe.

``OSSRAG_ISOLATION=0`` runs isolated tests in-process (to debug one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHILD_ENV = "OSSRAG_ISOLATED_CHILD"  # set in the child: run normally, write reports
REPORTS_ENV = "OSSRAG_ISOLATION_REPORTS"  # the JSON-lines file the child writes
MARKER = "isolated"
STDERR_TAIL = 6000  # characters of the child's stderr shown for a crash
CHILD_TIMEOUT = 3600.0  # seconds for one module's isolated tests (each also has pytest-timeout)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: runs native model code in-process; executed in a child process "
        "so that a crash fails this test instead of ending the run",
    )
    if os.environ.get(CHILD_ENV):
        config.pluginmanager.register(_ChildReporter(config, os.environ[REPORTS_ENV]))
    elif os.environ.get("OSSRAG_ISOLATION", "1") != "0":
        config.pluginmanager.register(_Isolator(config), "ossrag-isolator")


class _ChildReporter:
    """In the child: one JSON line per test start and per report."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the child

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()  # the next test may crash the process

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._write({"start": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        self._write({"report": data})


class _Isolator:
    """In the parent: run each module's isolated tests in a child and replay the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, list[pytest.TestReport]] = {}
        self.pending: dict[str, list[pytest.Item]] = {}  # module path -> isolated items

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker(MARKER) is not None:
                self.pending.setdefault(str(item.path), []).append(item)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if item.get_closest_marker(MARKER) is None:
            return None
        if item.nodeid not in self.results:
            self._run_module(str(item.path))
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        for report in self.results.pop(item.nodeid, []):
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        # What runtestprotocol does after every item: tear down the parent's fixtures that the
        # next item does not share (e.g. a module whose last tests were isolated).
        item.session._setupstate.teardown_exact(nextitem)
        return True

    def _run_module(self, module: str) -> None:
        todo = [i for i in self.pending.get(module, []) if i.nodeid not in self.results]
        while todo:
            done = self._run_child(todo)
            todo = [i for i in todo if i.nodeid not in done]

    def _run_child(self, items: list[pytest.Item]) -> set[str]:
        """Run ``items`` in one child; return the node ids that got their reports."""
        with tempfile.TemporaryDirectory(prefix="ossrag-isolated-") as tmp:
            reports_path, stderr_path = Path(tmp, "reports.jsonl"), Path(tmp, "stderr")
            env = {**os.environ, CHILD_ENV: "1", REPORTS_ENV: str(reports_path)}
            # `-p isolation` is imported before any conftest puts this directory on sys.path.
            here = str(Path(__file__).resolve().parent)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", __name__]
            cmd += [
                "--capture=tee-sys",
                "-o",
                "addopts=--strict-markers",
                *(i.nodeid for i in items),
            ]
            with open(stderr_path, "wb") as err:
                try:
                    returncode = subprocess.run(
                        cmd,
                        cwd=self.config.rootpath,
                        env=env,
                        stderr=err,
                        stdout=subprocess.DEVNULL,
                        timeout=CHILD_TIMEOUT,
                        check=False,
                    ).returncode
                except subprocess.TimeoutExpired:  # run() has killed it
                    returncode = -signal.SIGKILL
            started, done = self._read(reports_path)
            if returncode in (0, 1) and all(i.nodeid in done for i in items):
                return done
            crashed = next((i for i in items if i.nodeid in started and i.nodeid not in done), None)
            if crashed is None:  # died before any test started (collection, a plugin, ...)
                crashed = next(i for i in items if i.nodeid not in done)
            self.results[crashed.nodeid] = [
                _crash_report(crashed, returncode, stderr_path.read_text(errors="replace"))
            ]
            return {*done, crashed.nodeid}

    def _read(self, path: Path) -> tuple[set[str], set[str]]:
        started: set[str] = set()
        if not path.exists():
            return started, set()
        for line in path.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            if "start" in obj:
                started.add(obj["start"])
                continue
            report = self.config.hook.pytest_report_from_serializable(
                config=self.config, data=obj["report"]
            )
            # JSON turned a skip's (path, line, reason) tuple into a list; pytest's
            # summary of skips asserts on the tuple.
            if isinstance(report.longrepr, list):
                report.longrepr = tuple(report.longrepr)
            self.results.setdefault(report.nodeid, []).append(report)
        done = {n for n, reps in self.results.items() if any(r.when == "teardown" for r in reps)}
        # A test that started but never reached teardown crashed: drop its partial reports.
        for nodeid in started - done:
            self.results.pop(nodeid, None)
        return started, done


def _crash_report(item: pytest.Item, returncode: int, stderr: str) -> pytest.TestReport:
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode} before finishing this test"
    text = (
        f"the isolated test process {how} while running {item.nodeid}\n"
        f"--- its stderr (last {STDERR_TAIL} characters) ---\n{stderr[-STDERR_TAIL:]}"
    )
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        text,
        "call",
        sections=[],
        duration=0.0,
    )
