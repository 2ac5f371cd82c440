"""ossrag: local-first, reasoning-aware RAG over your own documents with gpt-oss and Milvus.

    from ossrag import KnowledgeBase

    kb = KnowledgeBase(uri="./ossrag.db", name="docs")
    kb.ingest("docs/")
    print(kb.ask("How do I use a Milvus server?", model="ollama:gpt-oss:20b", effort="low").text)

Everything public is listed in ``__all__``; modules are importable but their
other names are internal and may change.
"""

from __future__ import annotations

from ._version import __version__
from .config import Settings
from .errors import (
    ConfigError,
    EmbedderError,
    EmbedderMismatchError,
    FilterError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
    LoadError,
    MissingDependencyError,
    ModelNotFoundError,
    OssragError,
    SourceError,
    StoreError,
    StreamInterruptedError,
)
from .kb import KnowledgeBase
from .types import Answer, Chunk, Citation, Document, Hit, StreamEvent, ToolCall, Usage

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "EmbedderError",
    "EmbedderMismatchError",
    "FilterError",
    "Hit",
    "KnowledgeBase",
    "LLMAuthError",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMTimeoutError",
    "LoadError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "OssragError",
    "Settings",
    "SourceError",
    "StoreError",
    "StreamEvent",
    "StreamInterruptedError",
    "ToolCall",
    "Usage",
    "__version__",
]
