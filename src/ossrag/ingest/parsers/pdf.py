"""PDF text layer via pypdf, in a child process that is killed when it takes too long.

    text, title, pages = pdf_to_text(data, timeout=60)   # raises LoadError: encrypted,
                                                          # scanned, broken, too slow, crashed

A PDF is a program for a complex parser: a crafted or merely broken one can
make pypdf loop for hours, eat memory or (in native code it may reach) crash.
A Python thread cannot be stopped, so pypdf runs in a separate process
(:mod:`._pdf_worker`) that lives for the whole run and parses one PDF at a
time.  When a PDF takes longer than ``timeout`` the process is killed, the PDF
is skipped with the reason, and the next PDF gets a new process; a crash is
reported the same way.  On Linux the child also runs under an address-space
limit (:data:`MEMORY_LIMIT`), so a decompression bomb ends in MemoryError
instead of the machine swapping.

One process per run, not per PDF: starting Python and importing pypdf takes
about half a second, sending a PDF over a pipe well under a millisecond
(``python bench/pdf_isolation.py`` measures both against parsing in-process).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ossrag.errors import LoadError

from ._text import clean_text

__all__ = ["MEMORY_LIMIT", "pdf_to_text", "shutdown_worker", "worker_pid"]

MEMORY_LIMIT = 2 << 30  # the child's address space; pypdf itself caps a stream at 75 MB
_HINT = "is it encrypted or a scan without a text layer? (OCR it first, e.g. with ocrmypdf)"
_SCRIPT = Path(__file__).with_name("_pdf_worker.py")


class _Worker:
    """The pypdf child process: started on first use, replaced after a kill or a crash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one PDF at a time (the pipeline may call from any thread)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stderr.clear()
        proc = subprocess.Popen(
            [sys.executable, "-P", str(_SCRIPT), str(MEMORY_LIMIT), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,  # Ctrl-C goes to the parent, which kills it
        )
        threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True).start()
        self._proc = proc
        return proc

    def _drain(self, stream: IO[bytes] | None) -> None:
        """Keep the last lines of the child's stderr (for a crash report) without blocking it."""
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                self._stderr.append(line)

    def parse(self, data: bytes, timeout: float) -> dict[str, Any]:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            reply: dict[str, Any] = {}
            reader = threading.Thread(target=self._receive, args=(proc.stdout, reply), daemon=True)
            try:
                proc.stdin.write(struct.pack(">Q", len(data)) + data)
                proc.stdin.flush()
            except OSError:  # died before (or while) reading the request
                pass
            reader.start()
            try:
                reader.join(timeout)
            except BaseException:  # Ctrl-C: its late reply must not answer the next PDF
                self._kill(proc)
                raise
            if reader.is_alive():
                self._kill(proc)
                reader.join(5)
                return {
                    "kind": "timeout",
                    "error": f"took longer than {timeout:g}s (parse_timeout); "
                    "the parser was stopped",
                }
            if "raw" in reply:
                return dict(json.loads(reply["raw"]))
            return {"kind": "crash", "error": self._crash_reason(proc)}

    @staticmethod
    def _receive(stdout: IO[bytes], reply: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError, struct.error):
            head = stdout.read(8)
            if len(head) == 8:
                body = stdout.read(struct.unpack(">Q", head)[0])
                reply["raw"] = body.decode("utf-8")

    def _crash_reason(self, proc: subprocess.Popen[bytes]) -> str:
        try:
            code = proc.wait(5)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            code = proc.returncode
        self._proc = None
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
                return f"the PDF parser crashed ({how})"
        last = b"".join(self._stderr).decode("utf-8", "replace").strip().splitlines()
        detail = f": {last[-1][:200]}" if last else ""
        return f"the PDF parser crashed (exit code {code}){detail}"

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._proc = None

    def close(self) -> None:
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()  # EOF: the child exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
            if proc.poll() is None:
                self._kill(proc)
            self._proc = None


_WORKER = _Worker()
atexit.register(_WORKER.close)


def worker_pid() -> int | None:
    """Process id of the running pypdf child, or None (tests use it to crash it on purpose)."""
    return _WORKER.pid


def shutdown_worker() -> None:
    """Stop the pypdf child (it is started again by the next PDF)."""
    _WORKER.close()


def pdf_to_text(data: bytes, *, timeout: float = 60.0) -> tuple[str, str, int]:
    """Text layer of a PDF: (text with pages joined by blank lines, title, page count)."""
    if importlib.util.find_spec("pypdf") is None:
        raise LoadError("cannot read PDF: pypdf is not installed", hint="pip install pypdf")
    reply = _WORKER.parse(data, timeout)
    if "error" in reply:
        kind = reply.get("kind")
        hint = (
            _HINT
            if kind in ("broken", "encrypted")
            else (
                "raise parse_timeout (--parse-timeout) if the PDF is just large"
                if kind == "timeout"
                else "the file may be malformed; try opening it in a PDF viewer"
            )
        )
        raise LoadError(f"cannot read PDF: {reply['error']}", hint=hint)
    pages = [str(p) for p in reply["text"]]
    text = clean_text("\n\n".join(p for p in pages if p))
    if not text.strip():
        raise LoadError(f"cannot read PDF: no text layer in {len(pages)} page(s)", hint=_HINT)
    return text + "\n", str(reply.get("title", "")), len(pages)
