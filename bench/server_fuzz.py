"""schemathesis against ``ossrag serve``, longer than the suite's run (tests/test_server_fuzz.py).

    .venv/bin/python bench/server_fuzz.py [--max-examples 20] [--max-time 600] [--seed 1]

The same server as the test: a real uvicorn on loopback (in this process), a small
Milvus Lite knowledge base with the default embedder, the answering model a recorded
gpt-oss-20b stream replayed on loopback for every request; the same checks
(tests/schemathesis_hooks.py, tests/data/schemathesis.toml), every phase. Prints
schemathesis's summary (operations, test cases, failures) and the ERROR records the
server logged (an ingestion job that crashed, a stream that failed).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path[:0] = [str(ROOT / "src"), str(TESTS)]

from fixtures_server import running_server  # noqa: E402
from ossrag.server import ServerConfig  # noqa: E402
from replay_server import ReplayServer  # noqa: E402
from server_kb import build_kb  # noqa: E402
from test_server_fuzz import REPLAYED, _Endless, _Errors  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-examples", type=int, default=20)
    ap.add_argument("--max-time", type=int, default=600, help="seconds for the whole run")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    errors = _Errors()
    logging.getLogger("ossrag").addHandler(errors)
    with tempfile.TemporaryDirectory() as tmp, ReplayServer() as replay:
        replay.queue = _Endless()
        settings = build_kb(
            Path(tmp),
            base_url=replay.url,
            model=REPLAYED,
            timeout=10,
            url_timeout=2,
            url_total_timeout=4,
        )
        with running_server(settings, ServerConfig(max_concurrent_per_client=16)) as base:
            env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")]),
            }
            cmd = [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(TESTS / "data" / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--workers",
                "1",
                "--request-timeout",
                "60",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-time",
                str(args.max_time),
            ]
            # In the temporary directory: schemathesis keeps a database in ./.schemathesis.
            run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    out = run.stdout + run.stderr
    start = out.find("SUMMARY")
    print(out[start:] if start >= 0 else out[-4000:])
    print(f"schemathesis exit code {run.returncode}; server ERROR records: {len(errors.records)}")
    for record in errors.records[:10]:
        print("  ", record.getMessage())
    return 0 if run.returncode == 0 and not errors.records else 1


if __name__ == "__main__":
    raise SystemExit(main())
