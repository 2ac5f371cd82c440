"""The keyword side of retrieval: what ossrag sends to BM25, and how much of it matched.

    from ossrag.retrieval.lexical import keyword_query, term_coverage

    keyword_query("How does Milvus store the data?")   # 'milvus store data'
    keyword_query("Wie speichert Milvus die Daten?")   # 'speichert milvus die daten'
    term_coverage("milvus store data", hits)           # share of words found, 0..1

Milvus' ``standard`` analyzer (server and Milvus Lite alike) lower-cases
``\\w+`` runs and removes no stop words, so a question's "how", "does", "the"
add BM25 score to every passage that happens to contain them.  BM25 sums one
term per query word, so dropping such words from the *query* is the same as
giving them no weight, without touching the index (knowledge bases built
before this change keep working).  On the Milvus docs dev set that raised
BM25-only MRR@10 from 0.52 to 0.57 (docs/benchmarks.md).

The stop list is the common function words of English plus those of German,
Spanish, French, Portuguese, Italian, Dutch and Indonesian that are not also
meaningful words in English technical text ("die", "bin", "war", "comment",
"io", "ci" stay, as do "up", "down", "out": "scale out" is not "scale").  A query
made only of stop words is sent unchanged.
"""

from __future__ import annotations

import re

from ..types import Hit

__all__ = ["LANGUAGE_STOP_WORDS", "STOP_WORDS", "keyword_query", "term_coverage"]

_WORD = re.compile(r"\w+")

_EN = """a about above after again against all also am an and any are as at be because been
before being below between both but by can could did do does doing done during each few
for from further had has have having he her here hers herself him himself his how i if in into
is it its itself just me more most my myself no nor not now of on once only or other our
ours ourselves own same she should so some such than that the their theirs them
themselves then there these they this those through to too until very was we were
what when where which while who whom why will with would you your yours yourself yourselves
s t don doesn isn aren cannot shall may might must let lets get gets got use using used
want need way ways tell explain please"""
_DE = """aber alle als also am an auch auf aus bei bis bist da damit dann das dass dem den
der des dich dir du durch ein eine einem einen einer eines er es für gibt hat hatte ich ihr im
ist ja kann kein keine mich mir mit muss nach nicht noch nur ob oder sein sich sie sind so
soll über um und uns unter vom von vor warum was welche welcher wenn wer werden wie wir
wird wo zu zum zur"""
_ES = """al algo como con cual cuales cuando de del desde donde el ella en entre es esta este
esto hay la las le lo los más mi mis muy no nos o para pero por porque puedo puede qué que
se si sin sobre su sus también tengo un una uno unos y ya cómo cuál dónde"""
_FR = """au aux avec ce ces dans des du elle en est et il ils je la le les leur mais
me mes mon ne nous ou où par pas pour peut puis qu que quel quelle quels qui sa se ses sur
ta te tu un une vous y être"""
_PT = """ao aos com como da das do dos ela ele em entre era essa esse está isso já mais mas
meu minha na nas no nos não o os ou para pela pelo por porque posso pode qual quando que se
sem seu sua são também um uma você é"""
_IT = """al alla che chi con cosa da dei del della di dove e gli il in la le lo ma mi
nel non o per perché più può quale quando se si sono su un una è"""
_NL = """aan al bij dat de deze dit een en er het hoe ik in is je kan met naar niet of om ook
te van voor waar wat wij zijn"""
_ID = """ada adalah agar akan apa apakah atau bagaimana bisa dalam dan dari dengan di ini itu
jika juga ke kenapa mengapa pada saya untuk yang"""

#: Each language's stop words (ISO 639-1 code -> lower-cased words).
LANGUAGE_STOP_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(block.split())
    for lang, block in (
        ("en", _EN),
        ("de", _DE),
        ("es", _ES),
        ("fr", _FR),
        ("pt", _PT),
        ("it", _IT),
        ("nl", _NL),
        ("id", _ID),
    )
}

#: Lower-cased words :func:`keyword_query` drops.
STOP_WORDS: frozenset[str] = frozenset().union(*LANGUAGE_STOP_WORDS.values())


def keyword_query(query: str) -> str:
    """``query``'s words without stop words, joined by spaces (for BM25).

    Words are lower-cased ``\\w+`` runs, like Milvus' standard analyzer.  When
    every word is a stop word the query comes back unchanged: better a weak
    keyword search than none.
    """
    words = _WORD.findall(query.lower())
    kept = [w for w in words if w not in STOP_WORDS]
    return " ".join(kept) if kept else query


def term_coverage(query: str, hits: list[Hit]) -> float:
    """Share of the query's distinct words that occur in any of ``hits``' texts, in [0, 1].

    Words are lower-cased ``\\w+`` runs, close to Milvus' standard analyzer.  A
    question in a language the corpus does not use shares few words with it
    (often only product names), so its BM25 ranking is mostly noise; this
    measures that without detecting languages.
    """
    terms = set(_WORD.findall(query.lower()))
    if not terms:
        return 0.0
    found: set[str] = set()
    for hit in hits:
        found |= terms.intersection(_WORD.findall(f"{hit.heading} {hit.text}".lower()))
        if len(found) == len(terms):
            break
    return len(found) / len(terms)
