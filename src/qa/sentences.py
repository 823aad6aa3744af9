"""Sentence spans with exact character offsets (a sentence is ``text[start:end]``).

Regex-based and fast (millions of characters a second); knows common English abbreviations and
initials, and treats a line break as a boundary (headlines and list items have no full stop).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "col", "lt", "sgt", "capt",
    "cmdr", "adm", "maj", "st", "jr", "sr", "inc", "corp", "ltd", "co", "vs", "etc", "no", "nos",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon",
    "tue", "tues", "wed", "thu", "thurs", "fri", "sat", "sun", "u.s", "u.k", "u.n", "e.g", "i.e",
    "a.m", "p.m", "approx", "dept", "est", "fig", "gov't", "mt", "ft", "rev", "hon", "pres",
    "ave", "blvd", "rd", "d.c", "n.y", "calif", "fla", "mass", "wash", "ariz", "colo", "conn",
    "ill", "ind", "kan", "ky", "la", "md", "mich", "minn", "miss", "mo", "mont", "neb", "nev",
    "okla", "ore", "pa", "tenn", "tex", "va", "vt", "wis", "wyo", "al", "op", "vol", "pp",
}
# candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)")
_NEXT_START = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9¿¡]")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.']*)\.$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the full stop at ``dot`` the end of an abbreviation or an initial?"""
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    if len(word) == 1:  # an initial: "J. K. Rowling", "U."
        return True
    return word in _ABBREVIATIONS


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each sentence, whitespace excluded, in order."""
    pos = 0
    n = len(text)
    for line in re.finditer(r"[^\n]+", text):
        ls, le = line.span()
        pos = ls
        for m in _BOUNDARY.finditer(text, ls, le):
            end = m.end()
            if not _NEXT_START.match(text, end, le):
                continue
            if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
                continue
            yield from _trimmed(text, pos, end)
            pos = end
        if pos < le:
            yield from _trimmed(text, pos, le)
    del n


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield (start, end)


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


_QUESTION_END = re.compile(r"\?[\"'”’)\]]*$")


def is_question(sentence: str) -> bool:
    """Does the sentence end with a question mark (also inside closing quotes or brackets)?"""
    return bool(_QUESTION_END.search(sentence.rstrip()))


LIST_STUB = re.compile(r"^(?:[-–—•*·]\s*)?\d{0,3}\s*[.)]?$")  # "- 1", "3.", "•"
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_TRAILING_NUMBER = re.compile(r"\s[-–—]\s*\d{1,3}$")  # "Headline - 2" (flattened numbered lists)
SHORT_LINE = 120


def is_headline_like(line: str) -> bool:
    """Short line that does not end like a sentence (a title, a link, a list item)."""
    s = line.strip()
    if not s or len(s) > SHORT_LINE:
        return False
    if _TRAILING_NUMBER.search(s) or LIST_STUB.match(s):
        return True
    return not _SENTENCE_END.search(s)
