"""Ingestion: sources to files (``loaders``), files to documents (``parsers``), documents to
heading-aware chunks (``chunking``), and incremental sync into a vector store (``sync``)."""

__all__: list[str] = []
