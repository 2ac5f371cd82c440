"""Evaluation: retrieval metrics and ``eval retrieval`` (``metrics``, ``retrieval_eval``), labelled
question sets (``datasets``), ``compare`` runs stored in SQLite (``compare``, ``runs``, ``scoring``,
``pricing``) and their HTML report (``report``)."""

__all__: list[str] = []
