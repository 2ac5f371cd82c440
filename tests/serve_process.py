"""``ossrag serve`` as its own process on loopback, for tests that kill it or load it.

    with ServeProcess(["--db", db], env=extra_env) as server:   # waits for /readyz
        httpx.post(f"{server.base}/v1/ingest", ...)
        server.kill()                                           # SIGKILL, no cleanup
    server.output()                                             # its stderr (and stdout)

The in-process ``running_server`` fixture cannot be SIGKILLed without taking the
test down with it; this one can. stdout and stderr go to files (a pipe nobody
reads would block the server once full).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from fixtures_server import free_port

__all__ = ["ServeProcess"]

REPO = Path(__file__).resolve().parents[1]


class ServeProcess:
    """``python -m ossrag serve --port P *args`` with ``PYTHONPATH`` set to this checkout."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        ready_timeout: float = 120.0,
        log_dir: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "ossrag", "serve", "--port", str(self.port), *args]
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
        self.ready_timeout = ready_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="ossrag-serve-", dir=log_dir))
        self.stdout_path, self.stderr_path = self._dir / "stdout", self._dir / "stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=err, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ossrag serve exited with {self.proc.returncode}:\n" + self.output()[-3000:]
                )
            try:
                if (
                    httpx.get(f"{self.base}/readyz", timeout=2, headers=self.headers).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("ossrag serve did not become ready:\n" + self.output()[-3000:])

    @property
    def headers(self) -> dict[str, str]:
        """The bearer key when the server has one (``OSSRAG_API_KEY``)."""
        key = self.env.get("OSSRAG_API_KEY")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def kill(self) -> int:
        """SIGKILL (a power cut, the OOM killer); returns the exit code (-9)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM: uvicorn's orderly shutdown (lets Milvus Lite close its file)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                return self.kill()
        return self.proc.returncode

    def output(self) -> str:
        return "".join(
            p.read_text(encoding="utf-8", errors="replace")
            for p in (self.stdout_path, self.stderr_path)
            if p.exists()
        )

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
