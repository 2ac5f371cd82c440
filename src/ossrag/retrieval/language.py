"""Which language a query (or a sample of a corpus) is written in, without a model.

    from ossrag.retrieval.language import detect_language

    detect_language("How do I enable TLS?")                        # 'en'
    detect_language("Wie aktiviere ich TLS-Verschlüsselung?")       # 'de'
    detect_language("Milvus 里如何按过滤条件删除数据？")               # 'zh'
    detect_language("TLS DiskANN")                                  # '' (cannot tell)

Questions to documentation are short and full of product names, so the
detector looks first at the script (Han, kana, Hangul, Cyrillic, Arabic, ...:
one of them decides outright) and then counts function words: the stop lists
of :mod:`ossrag.retrieval.lexical` plus a few words that mark one language
(``ich``, ``bagaimana``, ``você``, accented letters).  The language with the
most marks wins; English wins ties, and a text with no marks at all gives
``""`` -- callers treat that as "the corpus language", so a bare keyword
query is never translated.  It labels all 177 questions of the two dev sets
right (35 in six other languages; its word lists were written from them) and
35 of 36 held-out questions in 12 languages, the 36th a bare keyword query it
leaves as ``""``; py3langid (a maintained n-gram model on PyPI) got 32, reading
an English question as Nigerian Pidgin and a keyword query as Danish:
docs/benchmarks.md ("Query language"), ``bench/query_language.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from .lexical import LANGUAGE_STOP_WORDS

__all__ = ["detect_language", "is_english"]

_WORD = re.compile(r"[^\W\d_]+")

# Scripts that name a language by themselves (first match wins; kana before Han).
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CJK", "zh"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("GREEK", "el"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
)

# Words (beyond the stop lists) that mark a language in a short question;
# none of them is common in English technical text.
_MARKS: dict[str, str] = {
    "de": "ich wie wo warum welche kann soll gibt mein meine meinen lege aktiviere finde "
    "installiere bricht fehlt tun ändere versteht zwischen höchstens darf",
    "es": "cómo cuál dónde qué puedo debo busco migro genero incluyo enlazo mis tengo",
    "fr": "comment pourquoi quel quelle quels quelles ma mes sont est-ce peut-on "
    "faut-il traduire publier accélérer",
    "pt": "como posso qual quais onde você meu minha verifico adiciono executar num numa em",
    "it": "come posso quale perché dove il della",
    "nl": "hoe waar waarom kan ik mijn",
    "id": "bagaimana apakah apa cara bisa bisakah bedanya berapa kapan dimana dengan tidak "
    "agar ikut beberapa yang",
}
# Letters that occur in one or a few languages only (scored once per word).
_LETTERS: dict[str, str] = {
    "ß": "de",
    "ä": "de",
    "ö": "de",
    "ü": "de",
    "ñ": "es",
    "¿": "es",
    "¡": "es",
    "ã": "pt",
    "õ": "pt",
    "ç": "fr pt",
    "è": "fr it",
    "ê": "fr pt",
    "à": "fr it pt",
    "œ": "fr",
    "«": "fr",
}


def _script(text: str) -> str:
    """The language of the non-Latin script most letters are in, when that is a third or more
    of them (a Chinese question with English product names; not an English page quoting one
    Chinese word)."""
    counts: Counter[str] = Counter()
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        if ord(ch) > 0x2FF:
            name = unicodedata.name(ch, "")
            for key, lang in _SCRIPTS:
                if key in name:
                    counts[lang] += 1
                    break
    if not counts:
        return ""
    # Han counts toward Japanese when kana are present (Japanese mixes both).
    if counts.get("ja") and counts.get("zh"):
        counts["ja"] += counts.pop("zh")
    lang, n = counts.most_common(1)[0]
    # CJK letters carry a word each, so a few of them outweigh many Latin letters.
    weight = 3 if lang in ("zh", "ja", "ko") else 1
    return lang if n * weight * 3 >= letters else ""


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language, or ``""`` when nothing marks one.

    Knows English, German, Spanish, French, Portuguese, Italian, Dutch and
    Indonesian by their words, and Chinese, Japanese, Korean, Russian (any
    Cyrillic), Arabic, Hebrew, Greek, Hindi and Thai by their scripts.
    """
    script = _script(text)
    if script:
        return script
    words = _WORD.findall(text.lower())
    score: Counter[str] = Counter()
    for word in words:
        for lang, stop in LANGUAGE_STOP_WORDS.items():
            if word in stop:
                score[lang] += 1
        for lang, marks in _MARKS_SETS.items():
            if word in marks:
                score[lang] += 2
    for ch in set(text.lower()):
        for lang in _LETTERS.get(ch, "").split():
            score[lang] += 2
    if not score:
        return ""
    best = max(score.values())
    if score.get("en", 0) == best:
        return "en"
    return min(lang for lang, s in score.items() if s == best)


def is_english(text: str) -> bool:
    """True when ``text`` reads as English or nothing marks another language."""
    return detect_language(text) in ("en", "")


_MARKS_SETS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in _MARKS.items()}
