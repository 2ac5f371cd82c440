"""Shared pytest fixtures: real services, on loopback only, stopped by the fixture.

Sections (add new ones below, each with its own banner):

1. Milvus — ``milvus_server`` (session: a real Milvus 2.3 standalone server),
   ``store_target`` (a fresh :class:`MilvusStore`, parametrized over Milvus Lite
   and the server) and ``kb_name`` (a unique knowledge-base name per test).

    def test_roundtrip(store_target, kb_name):
        store_target.ensure_collection(kb_name, embedder="e", dim=8)
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests marked `isolated` (native model code in-process) run in child processes.
pytest_plugins = ["isolation"]

# ════════════════════════════════════════════════════════════════════════════
# 1. Milvus
# ════════════════════════════════════════════════════════════════════════════
#
# ``milvus-server`` (the ``milvus`` PyPI package: embedded Milvus 2.3.5) has no
# option to listen on loopback only: ``<component>.ip`` only sets the address
# it advertises, and every gRPC port binds to all interfaces. So the server
# runs in its own network namespace (``unshare --net``), where the only
# interface is loopback, and the tests reach it through a bridge:
#
#   pytest: TCP 127.0.0.1:PORT  ──►  unix socket (in tmp)  ──►  netns: 127.0.0.1:19530
#
# Nothing listens on any other address, and the components talk to each
# other on the namespace's own loopback.

MILVUS_START_TIMEOUT = 120.0  # seconds; a cold start takes ~20-40 s on 2 cores
_PROXY_PORT = 19530  # inside the namespace nothing else can be using it


def _server_unavailable(reason: str) -> None:
    """Skip, or fail when OSSRAG_REQUIRE_SERVER says the server must be tested (CI)."""
    if os.environ.get("OSSRAG_REQUIRE_SERVER"):
        pytest.fail(f"{reason} (OSSRAG_REQUIRE_SERVER is set)")
    pytest.skip(reason)


def _netns_main(data_dir: str, sock_path: str, proxy_port: int) -> None:
    """Runs inside ``unshare --net``: bring loopback up, start milvus-server, and
    forward connections from ``sock_path`` to its proxy. Exits when stdin closes.

    Self-contained (stdlib only): its source is sent to a fresh interpreter.
    """
    import contextlib
    import fcntl
    import os
    import signal
    import socket
    import struct
    import subprocess
    import sys
    import threading

    # `ip link set lo up` without needing iproute2: SIOCGIFFLAGS / SIOCSIFFLAGS.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    req = struct.pack("16sH14s", b"lo", 0, b"")
    flags = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), 0x8913, req))[1]
    fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH14s", b"lo", flags | 0x1, b""))
    s.close()

    components = (
        "rootCoord",
        "proxy",
        "queryCoord",
        "queryNode",
        "indexCoord",
        "indexNode",
        "dataCoord",
        "dataNode",
    )
    args = ["--data", data_dir, "--proxy-port", str(proxy_port)]
    for comp in components:
        args += ["--extra-config", f"{comp}.ip=127.0.0.1"]
    with open(f"{data_dir}/milvus-server.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, milvus; sys.argv[0] = 'milvus-server'; milvus.main()",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock_path)
        srv.listen(64)
        while True:
            conn, _ = srv.accept()
            try:
                up = socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
                up.settimeout(None)
            except OSError:
                conn.close()  # not up yet: the client retries
                continue
            threading.Thread(target=pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=pump, args=(up, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()

    def watch_parent() -> None:
        sys.stdin.buffer.read()  # EOF: the test session ended or died
        # This process group is ours alone (the fixture starts a new session):
        # take milvus-server and the milvus binary down with us.
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch_parent, daemon=True).start()
    sys.exit(proc.wait())


class _TcpToUnixBridge:
    """Listens on 127.0.0.1:<free port> and forwards each connection to a unix socket."""

    def __init__(self, sock_path: str) -> None:
        self.sock_path = sock_path
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(64)
        self.port = self._srv.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            try:
                up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                up.connect(self.sock_path)
            except OSError:
                conn.close()
                continue
            self._open.update((conn, up))
            threading.Thread(target=self._pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                self._open.discard(sock)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._srv.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()


def _wait_ready(uri: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """Poll with pymilvus until the server answers; returns its version."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"milvus-server exited with {proc.returncode}: {last}\n{tail}")
        try:
            client = MilvusClient(uri=uri, timeout=5)
            try:
                version = str(client.get_server_version(timeout=5))
                client.list_collections(timeout=5)
                return version
            finally:
                client.close()
        except Exception as exc:
            last = str(exc)[:300]
            time.sleep(1.0)
    raise TimeoutError(f"Milvus server not ready after {timeout:.0f}s: {last}")


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate the server's whole process group (unshare'd python, milvus-server, milvus)."""
    if proc.stdin:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            # The group may outlive its leader for a moment; make sure it is gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus 2.3 standalone server reachable at ``http://127.0.0.1:PORT``.

    Skips when the ``milvus`` package or ``unshare`` is missing, unless
    ``OSSRAG_REQUIRE_SERVER`` is set (CI), where it fails instead. Child
    processes of ``isolated`` tests reuse the parent's server
    (``OSSRAG_TEST_MILVUS_URI``) instead of starting their own.
    """
    if os.environ.get("OSSRAG_ISOLATED_CHILD") and os.environ.get("OSSRAG_TEST_MILVUS_URI"):
        yield os.environ["OSSRAG_TEST_MILVUS_URI"]
        return
    if importlib.util.find_spec("milvus") is None:
        _server_unavailable(
            "the `milvus` package (milvus-server) is not installed: pip install 'ossrag[server]'"
        )
    unshare = shutil.which("unshare")
    if (
        unshare is None
        or subprocess.run([unshare, "--net", "true"], capture_output=True).returncode != 0
    ):
        _server_unavailable(
            "cannot run milvus-server on loopback only: `unshare --net` "
            "is unavailable (needs util-linux and CAP_SYS_ADMIN or user namespaces)"
        )
    # Unix socket paths are limited to ~107 bytes: keep this one short.
    data_dir = Path(tmp_path_factory.mktemp("milvus"))
    sock_dir = Path(tmp_path_factory.getbasetemp()) / f"m{uuid.uuid4().hex[:6]}"
    sock_dir.mkdir()
    sock_path = str(sock_dir / "proxy.sock")
    code = (
        inspect.getsource(_netns_main)
        + f"\n_netns_main({str(data_dir)!r}, {sock_path!r}, {_PROXY_PORT})\n"
    )
    cmd = [unshare, "--net", sys.executable, "-c", code]
    if os.geteuid() != 0:
        cmd.insert(1, "--map-root-user")  # an unprivileged user namespace
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, start_new_session=True)
    bridge = _TcpToUnixBridge(sock_path)
    uri = f"http://127.0.0.1:{bridge.port}"
    try:
        _wait_ready(uri, proc, data_dir / "milvus-server.log", MILVUS_START_TIMEOUT)
    except Exception as exc:
        bridge.close()
        _stop_group(proc)
        pytest.fail(f"Milvus server did not start: {exc}")
    os.environ["OSSRAG_TEST_MILVUS_URI"] = uri  # for the children of isolated tests
    try:
        yield uri
    finally:
        os.environ.pop("OSSRAG_TEST_MILVUS_URI", None)
        bridge.close()
        _stop_group(proc)


@pytest.fixture
def kb_name() -> str:
    """A knowledge-base name unique to this test (server collections outlive a test)."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.server)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A fresh ``MilvusStore``: Milvus Lite in ``tmp_path``, or the session's server.

    On the server, knowledge bases a test creates are dropped afterwards.
    """
    from ossrag.stores.milvus import MilvusStore

    if request.param == "lite":
        store = MilvusStore(str(tmp_path / "ossrag.db"), timeout=30.0)
        try:
            yield store
        finally:
            store.close()
        return
    uri = request.getfixturevalue("milvus_server")
    store = MilvusStore(uri, timeout=30.0)
    before = set(store.list_kbs())
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            for kb in set(store.list_kbs()) - before:
                store.drop(kb, missing_ok=True)
        store.close()
