"""Small text helpers shared by the answerer and evaluation."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves said says say also according new
    one two last latest recent recently week month year today yesterday did does do happen happened
    first s t""".split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")


_CLOSING = re.compile(r"[\s?!.…？！。]+$")


_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(text: str) -> str | None:
    """What keeps ``text`` from being whole Unicode text, or None: a lone surrogate, which is what
    bytes that are not UTF-8 become in a command line or on stdin ('caf\\xe9' → 'caf\\udce9'),
    or a JSON '\\ud800'; named by its byte, counted from 1."""
    m = _SURROGATE.search(text)
    if m is None:
        return None
    return f"not valid UTF-8 text (byte {len(text[: m.start()].encode('utf-8', 'surrogatepass')) + 1})"


def as_question(text: str) -> str:
    """A question as qa reads it: its words one space apart, ending in one "?" (a quiz stem that
    ends with ":", its options to follow, keeps it). How a question is spaced or punctuated at its
    end says nothing about what it asks, but the embedding model reads the punctuation, and near
    the relevance floor that alone decided whether it was answered; "?" is how the questions qa
    was measured on end."""
    core = _CLOSING.sub("", " ".join(text.split()))
    if not core:
        return text
    return core if core.endswith((":", "：")) else f"{core}?"


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'").removesuffix("'s") for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def normalize_answer(text: str) -> str:
    """Lower case, no accents, punctuation or articles: for comparing answers to gold."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
