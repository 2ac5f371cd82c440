"""`ossrag demo` (the README's main job) and `ossrag doctor`, through real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures_llm import smollm2_path  # noqa: F401  (fixture)
from ossrag.embedders import default_e5


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OSSRAG_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ossrag", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.llm
@pytest.mark.usefixtures("smollm2_path")
def test_demo_runs_offline_and_touches_nothing(tmp_path: Path) -> None:
    proc = run("demo", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "added " in out and "skipped 0" in out
    assert "re-ingest: added 0, updated 0" in out  # incremental: nothing embedded again
    # The German query finds the install section: the default embedder is multilingual.
    german = out.split("search: Wie installiere ich ossrag?")[1].split("\n\n")[0]
    assert "Install ossrag" in german.splitlines()[1]
    assert "ask (local:smollm2)" in out and "tokens, first token" in out
    # Plainly said: a tiny model only proves the pipeline; the best passage is shown too.
    assert "only proves that the whole pipeline runs offline" in out
    assert "best passage: " in out and "--uri" in out.split("best passage: ")[1]
    assert "gpt-oss" in out.splitlines()[-1]  # the one-line pointer to real models
    assert list(tmp_path.iterdir()) == []  # the demo's knowledge base was temporary


def test_doctor_reports_target_and_embedder(tmp_path: Path) -> None:
    proc = run("doctor", cwd=tmp_path)
    out = proc.stdout
    assert "Milvus Lite" in out and "BM25" in out
    assert default_e5() in out and "model: local:smollm2" in out
    assert proc.returncode == 0, out
    bad = run("--uri", "http://127.0.0.1:9", "doctor", cwd=tmp_path)
    assert bad.returncode == 1 and "cannot connect" in bad.stdout
