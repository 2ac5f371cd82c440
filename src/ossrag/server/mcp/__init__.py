"""ossrag's knowledge bases as MCP tools: ``ossrag mcp`` (stdio) and ``/mcp`` in ``ossrag serve``.

    ossrag mcp --db ./ossrag.db                  # for Claude Desktop-style clients (stdio)
    ossrag serve                                 # Streamable HTTP at http://127.0.0.1:8000/mcp

Five read-only tools (annotated ``readOnlyHint``, ``idempotentHint``, not
open-world): ``list_knowledge_bases``, ``search``, ``get_chunk``,
``read_section`` and ``ask`` (progress notifications while the model
answers). Each result has structured content (an output schema) and a
readable text in which document text is fenced as untrusted data; failures
are ``isError`` results that say what to fix, never an empty result.

Modules: :mod:`.server` (the tools as the SDK sees them), :mod:`.tools` (what
they do), :mod:`.ask` (the answering tool, with progress), :mod:`.models`
(output schemas), :mod:`.render` (fences, budget), :mod:`.sections` (a section
back from its chunks), :mod:`.transport` (stdio and the ``/mcp`` route).
"""

from __future__ import annotations

from .render import Budget
from .server import build_server
from .transport import PATH, router, run_stdio

__all__ = ["PATH", "Budget", "build_server", "router", "run_stdio"]
