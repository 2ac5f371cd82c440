"""The child process that runs pypdf for :mod:`.pdf`: one PDF in, its text out, in a loop.

Started as ``python -P <this file> MEMORY_LIMIT PARENT_PID`` (a script, not ``-m``: it
imports nothing of ossrag, only the standard library and pypdf; ``-P`` keeps
this directory, whose ``html.py`` would shadow the standard library's, off
``sys.path``).  Protocol on stdin/stdout, one request at a time::

    request:  8-byte big-endian length, then the PDF's bytes
    response: 8-byte big-endian length, then JSON
              {"text": [page, ...], "title": "..."} or {"error": "Kind: message", "kind": "..."}

The parent kills this process when a PDF takes longer than its time limit,
and starts a new one for the next PDF; a crash (a signal, the memory limit)
is reported the same way.  ``kind`` is ``encrypted`` or ``broken``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import struct
import sys
import threading
import time
from typing import Any, BinaryIO

__all__ = ["main"]


def _extract(data: bytes) -> dict[str, Any]:
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings would only fill stderr
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return {"kind": "encrypted", "error": "it is encrypted with a password"}
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata
        title = str(info.title or "").strip() if info else ""
    except MemoryError:
        return {"kind": "broken", "error": "MemoryError: it needs more memory than the limit"}
    except Exception as exc:  # pypdf raises many types for broken files
        return {"kind": "broken", "error": f"{type(exc).__name__}: {exc}"}
    return {"text": pages, "title": title}


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        block = stream.read(n - len(buf))
        if not block:
            return None
        buf += block
    return bytes(buf)


def _die_with_parent(parent: int) -> None:
    """Exit when the parent dies, even in the middle of a PDF (no orphan parsing for hours).

    ``parent`` comes from the command line: the parent may already be gone by
    the time this process gets here.
    """
    with contextlib.suppress(Exception):  # Linux: the kernel does it
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:  # elsewhere: look every second
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[2].isdigit():
        _die_with_parent(int(sys.argv[2]))
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        try:
            import resource

            limit = int(sys.argv[1])
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):  # not on this platform: time limit only
            pass
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = _read_exact(stdin, 8)
        if head is None:
            return 0
        data = _read_exact(stdin, struct.unpack(">Q", head)[0])
        if data is None:
            return 0
        out = json.dumps(_extract(data)).encode("utf-8")
        stdout.write(struct.pack(">Q", len(out)) + out)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
