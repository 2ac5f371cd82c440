"""Evaluation: retrieval metrics and ``eval retrieval`` (``metrics``, ``retrieval_eval``), labelled
question sets (``datasets``), ``compare`` runs stored in SQLite (``compare``, ``runs``, ``scoring``,
``judge``, ``pricing``) and their HTML report (``report``, plots in ``report_svg``)."""

__all__: list[str] = []
