"""Evaluation datasets: one JSON object per line.

    from ossrag.evaluation.datasets import load_questions

    questions = load_questions("bench/data/milvus_docs_questions.jsonl")
    questions[0].question   # 'How is data stored in milvus?'
    questions[0].relevant   # ['Where does Milvus store data?']

Each line is an object with at least ``"question"``::

    {"question": "How is data stored in milvus?",
     "relevant": ["Where does Milvus store data?", "faq/product_faq.md"],
     "reference": "Inserted data goes to object storage, metadata to etcd.",
     "answerable": true, "lang": "en", "kind": "faq"}

``relevant`` items say which passages answer the question: an item matches a
hit whose ``source`` ends with it (``"faq/product_faq.md"``) or whose heading
path contains it (``"Where does Milvus store data?"``); see
:mod:`ossrag.evaluation.metrics`.  ``reference`` (a reference answer) and
``answerable`` (``false`` for questions the corpus cannot answer) are for
answer evaluation; ``lang`` defaults to ``"en"``.  Any other keys are kept in
:attr:`Question.extra`.  Blank lines and lines starting with ``#`` are skipped,
so a dataset can carry comments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["Question", "load_questions", "parse_question"]

_KNOWN = {"question", "relevant", "reference", "answerable", "lang"}


@dataclass
class Question:
    """One evaluation question and what counts as a correct retrieval for it."""

    question: str
    relevant: list[str] = field(default_factory=list)
    reference: str = ""
    answerable: bool = True
    lang: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL shape again (``extra`` keys at top level)."""
        out: dict[str, Any] = {"question": self.question, "relevant": list(self.relevant)}
        if self.reference:
            out["reference"] = self.reference
        if not self.answerable:
            out["answerable"] = False
        out["lang"] = self.lang
        out.update(self.extra)
        return out


def parse_question(obj: Any, *, where: str = "question") -> Question:
    """Validate one decoded JSON value; ``where`` prefixes error messages (``file:line``)."""
    example = '{"question": "How is data stored?", "relevant": ["faq/product_faq.md"]}'
    if not isinstance(obj, dict):
        raise ConfigError(
            f"{where}: expected a JSON object, got {type(obj).__name__}",
            hint=f"write one object per line, e.g. {example}",
        )
    if "question" not in obj:
        raise ConfigError(
            f'{where}: missing "question" field', hint=f"each line needs one, e.g. {example}"
        )
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f'{where}: "question" must be a non-empty string', hint=example)

    relevant = obj.get("relevant", [])
    if isinstance(relevant, str):  # a single item is a common slip; accept it
        relevant = [relevant]
    if not isinstance(relevant, list) or not all(
        isinstance(r, str) and r.strip() for r in relevant
    ):
        raise ConfigError(
            f'{where}: "relevant" must be a list of non-empty strings',
            hint='source path endings or heading text, e.g. ["faq/product_faq.md"]',
        )

    reference = obj.get("reference", "")
    if reference is None:
        reference = ""
    if not isinstance(reference, str):
        raise ConfigError(f'{where}: "reference" must be a string (a reference answer)')
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ConfigError(f'{where}: "answerable" must be true or false')
    lang = obj.get("lang", "en")
    if not isinstance(lang, str) or not lang:
        raise ConfigError(f'{where}: "lang" must be a language code such as "en" or "de"')

    return Question(
        question=question.strip(),
        relevant=[r.strip() for r in relevant],
        reference=reference,
        answerable=answerable,
        lang=lang,
        extra={k: v for k, v in obj.items() if k not in _KNOWN},
    )


def load_questions(path: str | Path) -> list[Question]:
    """Read a JSONL dataset; raise :class:`ConfigError` naming the file and line of a bad entry."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"dataset not found: {p}",
            hint="give the path of a .jsonl file with one question per line",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"dataset {p} is a directory", hint="give the path of a .jsonl file"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"dataset {p} is not UTF-8 text: {exc}", hint="save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read dataset {p}: {exc}") from exc

    questions: list[Question] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{p}:{lineno}"
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{where}: invalid JSON ({exc.msg} at column {exc.colno})",
                hint="each line must be one complete JSON object; a # line is a comment",
            ) from None
        questions.append(parse_question(obj, where=where))
    if not questions:
        raise ConfigError(
            f"dataset {p} has no questions",
            hint='add lines such as {"question": "...", "relevant": ["..."]}',
        )
    return questions
