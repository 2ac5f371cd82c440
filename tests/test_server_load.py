"""A small run of bench/server_load.py in the suite: ``ossrag serve`` as a process,
4 concurrent clients on /v1/search and /v1/chat/completions (the replayed gpt-oss
stream) while an ingestion job writes another knowledge base.

No answer but 200 or the configured 429 (4 in flight per client: 4 clients fit), and
every chunk the job reported is in Milvus exactly once (read back with the server
stopped). The full run with rising concurrency and its table is the benchmark's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import server_load

pytestmark = pytest.mark.timeout(600)


def test_search_and_chat_under_load_while_ingesting(tmp_path: Path) -> None:
    out = server_load.run(levels=[4], requests=8, files=3, tmp=tmp_path)
    for level in out["levels"]:
        assert level.errors == 0, (
            level.endpoint,
            dict(level.statuses),
            out["server_output"][-3000:],
        )
        assert level.statuses[200] == 8, (level.endpoint, dict(level.statuses))
    rows = out["rows"]
    assert rows["duplicate_ids"] == 0 and not rows["broken_sources"], rows
    assert rows["rows"] == out["written"] > 0 and rows["sources"] == 3, (rows, out["written"])
    assert out["ok"]
