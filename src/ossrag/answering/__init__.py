"""Answering from retrieved passages: prompts and citations (``prompts``), one streamed answer
(``run``), the agent loop (``agent``), JSON-schema answers (``structured``, ``schema``)."""

__all__: list[str] = []
