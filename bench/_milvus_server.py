"""A loopback-only Milvus server for benchmarks, started the way the tests start theirs.

    from _milvus_server import milvus_server
    with milvus_server() as uri:        # http://127.0.0.1:PORT, stopped on exit
        ...

``milvus-server`` (the ``milvus`` package, extra ``server``) binds every
interface, so it runs in its own network namespace (``unshare --net``) behind
a bridge; this reuses ``tests/conftest.py``'s pieces rather than copying them.
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def milvus_server(timeout: float = 180.0) -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest as c  # the tests' server plumbing

    unshare = shutil.which("unshare")
    if unshare is None:
        raise SystemExit("needs `unshare` (util-linux) to run milvus-server on loopback only")
    with tempfile.TemporaryDirectory(prefix="ossrag-milvus-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        sock_dir = Path(tempfile.gettempdir()) / f"m{uuid.uuid4().hex[:6]}"
        sock_dir.mkdir()
        sock = str(sock_dir / "proxy.sock")
        code = (
            inspect.getsource(c._netns_main)
            + f"\n_netns_main({str(data_dir)!r}, {sock!r}, 19530)\n"
        )
        cmd = [unshare, "--net", sys.executable, "-c", code]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, start_new_session=True)
        bridge = c._TcpToUnixBridge(sock)
        uri = f"http://127.0.0.1:{bridge.port}"
        try:
            c._wait_ready(uri, proc, data_dir / "milvus-server.log", timeout)
            yield uri
        finally:
            bridge.close()
            c._stop_group(proc)
            shutil.rmtree(sock_dir, ignore_errors=True)
