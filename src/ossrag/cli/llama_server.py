"""``ossrag llama-server``: llama-cpp-python's OpenAI-compatible server, made safe on every CPU.

    ossrag llama-server --model /models/gpt-oss-20b-mxfp4.gguf --port 8080
    ossrag llama-server --model "$(python -c 'from ossrag.llms.local import bundled_model_path as p; print(p())')"
    ossrag ask "..." -m llamacpp:gpt-oss-20b --base-url http://127.0.0.1:8080/v1

The arguments are ``python -m llama_cpp.server``'s (``--model``, ``--n_ctx``,
``--model_alias``, ``--n_threads`` ...; ``--help`` lists them). Two things
differ: llama.cpp's extra buffer types follow ossrag's rule for the CPU
(off on AMX CPUs, where they crash: :mod:`ossrag.llms.llama_params`), and the
server listens on 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ..errors import MissingDependencyError
from ..llms import llama_params

__all__ = [
    "INSTALL_HINT",
    "run",
]

log = logging.getLogger("ossrag.cli.llama_server")
INSTALL_HINT = "pip install 'ossrag[local]' 'llama-cpp-python[server]'"


def run(argv: Sequence[str]) -> None:
    """Start the server with ``argv`` (llama_cpp.server's flags); returns when it stops."""
    try:
        import llama_cpp
        from llama_cpp.server.__main__ import main as server_main
    except ImportError as exc:
        raise MissingDependencyError(
            f"ossrag llama-server needs llama-cpp-python's server extra ({exc.name} is missing)",
            hint=INSTALL_HINT,
        ) from exc
    decision = llama_params.apply(llama_cpp)
    log.info(
        "llama.cpp extra buffer types %s: %s",
        "on" if decision.extra_bufts else "off",
        decision.reason,
    )
    args = list(argv)
    if not any(a == "--host" or a.startswith("--host=") for a in args):
        args += ["--host", "127.0.0.1"]  # llama_cpp.server's default, "localhost", may be IPv6 too
    # llama_cpp.server parses sys.argv itself; this is the only way to hand it the flags.
    sys.argv = ["ossrag llama-server", *args]
    server_main()


if __name__ == "__main__":
    run(sys.argv[1:])
