"""The layer rules (docs/architecture.md) hold, and the contracts would catch a break.

import-linter checks them in scripts/test.sh; here the same contracts run on a
copy of the package with one forbidden import planted, to prove they fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ossrag"
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(src_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=src_root,
        env={"PYTHONPATH": str(src_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(SRC, tmp_path / "ossrag", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_contracts_hold() -> None:
    proc = _lint(ROOT / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        # A core module importing the CLI, inside a function (hidden imports count).
        ("kb.py", "def _leak():\n    from .cli.output import print_json\n", "Layers"),
        # The facade's private half is in the facade layer too.
        ("_kb_search.py", "def _leak():\n    from .server.app import create_app\n", "Layers"),
        # A backend importing another backend.
        ("embedders/base.py", "from ..llms.base import LLM\n", "Layers"),
        # The pipeline reaching for a concrete backend instead of its protocol.
        ("retrieval/lexical.py", "from ..stores.milvus import MilvusStore\n", "protocols"),
    ],
)
def test_a_planted_import_breaks_a_contract(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    root = _copy(tmp_path)
    path = root / "ossrag" / module
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + planted, encoding="utf-8")
    proc = _lint(root)
    assert proc.returncode != 0, proc.stdout
    broken = [line for line in proc.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), proc.stdout
