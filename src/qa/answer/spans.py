"""Candidate answer spans in sentences: spaCy's named entities and noun chunks, plus patterns for
numbers, amounts and dates (qa's own date resolution, ``qa.temporal``).

spaCy is imported and its pipeline loaded on first use only (`qa --help`, `qa index stats` and
ingest never import it); analyses are cached per sentence text, so a warm server reads a
sentence it has seen before for free.
"""

from __future__ import annotations

import calendar
import re
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from qa.errors import unloadable_model
from qa.temporal import TimeMention, find_time_mentions

NOUN_PHRASE = "NP"  # label of a noun chunk that is not an entity
_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Span:
    """``sentence[start:end]``: an entity (its label), a noun chunk (``NP``, with its head noun
    in ``head``), or a number, amount or date found by pattern."""

    start: int
    end: int
    label: str
    head: str = ""


_LEADING = re.compile(
    r"^(?:(?:the|a|an|this|that|these|those|his|her|its|their|our|my|your|some|any|all|both|each|"
    r"every|such|no|another|former|late|then|now)\s+)+",
    re.I,
)
_TRAILING = re.compile(r"(?:['’]s|['’]|,?\s+(?:Inc|Corp|Corporation|Ltd|LLC|plc|PLC|Co|AG|SA|NV)\.?)$")


def trim(sentence: str, start: int, end: int) -> tuple[int, int]:
    """A span without leading determiners and possessives, trailing "'s" or punctuation."""
    text = sentence[start:end]
    m = _LEADING.match(text)
    if m and m.end() < len(text):
        start += m.end()
    text = sentence[start:end]
    t = _TRAILING.search(text)
    if t and t.start() > 0:
        end = start + t.start()
    while end > start and sentence[end - 1] in " ,.;:!?\"'“”‘’()[]":
        end -= 1
    while start < end and sentence[start] in " \"'“”‘’()[]":
        start += 1
    return start, end


# ---------------------------------------------------------------- patterns

_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|hundred|bn|mn|tn|m|k)\b)?"
_NUM = r"\d+(?:[.,]\d+)*"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("MONEY", re.compile(rf"(?:[$£€¥]|US\$|C\$|A\$)\s?{_NUM}{_SCALE}|{_NUM}{_SCALE}\s(?:dollars|pounds|euros|yen|yuan|rupees)\b", re.I)),
    ("PERCENT", re.compile(rf"{_NUM}\s?(?:%|percent\b|per cent\b|percentage points?\b)", re.I)),
    ("QUANTITY", re.compile(rf"\b{_NUM}{_SCALE}\s(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|miles?|kilometres?|kilometers?|km|feet|ft|inches|metres?|meters?|pounds|lbs|kg|tons?|tonnes?|degrees)\b", re.I)),
    ("CARDINAL", re.compile(rf"\b{_NUM}{_SCALE}(?!\s?%)(?![\d,.])|\b(?P<ordinal>\d+)(?:st|nd|rd|th)\b", re.I)),
]


def pattern_spans(sentence: str, published: date | None) -> list[Span]:
    """Numbers, amounts, percentages and quantities by pattern (an ordinal gives its number:
    "his 23rd title" → "23"), and every date expression ``qa.temporal`` finds."""
    out: list[Span] = []
    taken: list[tuple[int, int]] = []
    for m in find_time_mentions(sentence, published):
        s, e = date_span(sentence, m)
        out.append(Span(s, e, "DATE", head=date_label(m.first, m.last, m.granularity) if m.resolved else ""))
        taken.append((m.start, m.end))
    for label, pattern in _PATTERNS:
        for m in pattern.finditer(sentence):
            if label == "CARDINAL" and m.group("ordinal"):
                s, e = m.span("ordinal")
            else:
                s, e = m.span()
            if any(s < te and e > ts for ts, te in taken):
                continue
            taken.append((s, e))
            out.append(Span(s, e, label))
    return out


_PREPOSITION = re.compile(r"(?:on|in|since|until|by|before|after|through|during|from|of|early|late|mid-?)\s+", re.I)


def date_span(text: str, mention: TimeMention) -> tuple[int, int]:
    """The words of a date expression that name the date ("on Saturday" → "Saturday")."""
    s, e = trim(text, mention.start, mention.end)
    prep = _PREPOSITION.match(text, s, e)
    return (prep.end() if prep and prep.end() < e else s), e


def date_label(first: date | None, last: date | None, granularity: str) -> str:
    """A resolved date as a short answer: "31 December 2023", "December 2023", "2023"."""
    if first is None or last is None:
        return ""
    if granularity == "day" or first == last:
        return f"{first.day} {calendar.month_name[first.month]} {first.year}"
    if granularity == "week":
        return f"{first.day} {calendar.month_name[first.month]} – {last.day} {calendar.month_name[last.month]} {last.year}"
    if granularity == "month":
        return f"{calendar.month_name[first.month]} {first.year}"
    return str(first.year) if first.year == last.year else f"{first.year}–{last.year}"


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen dozens hundreds thousands millions billions half"
).split()
NUMERIC_CORE = re.compile(
    rf"(?:[$£€¥]|US\$)?\s?\d+(?:[.,]\d+)*(?:\s?(?:%|percent|per cent|percentage points?))?"
    rf"(?:\s?(?:million|billion|trillion|thousand|hundred|bn|mn|tn|m|k)\b)?"
    rf"|\b(?:{'|'.join(_NUMBER_WORDS)})(?:[\s-](?:{'|'.join(_NUMBER_WORDS)}|and))*\b",
    re.I,
)


# ---------------------------------------------------------------- spaCy

_PIPELINES: dict[str, Any] = {}
_PIPELINE_LOCK = threading.Lock()


def _import_spacy() -> Any:
    """``import spacy`` without letting thinc import torch (3 s of a cold `qa ask`, unused by a
    CPU pipeline): while torch is not yet imported, it is hidden for the length of the import."""
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # import torch → ImportError
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


def load_pipeline(name: str) -> Any:
    """The spaCy pipeline ``name`` (an installed package or a folder), loaded once per process."""
    with _PIPELINE_LOCK:
        nlp = _PIPELINES.get(name)
        if nlp is None:
            spacy = _import_spacy()
            try:
                nlp = spacy.load(name, exclude=["lemmatizer"])
            except Exception as e:  # not installed, or a damaged folder (any of spaCy's errors): exit 2
                raise unloadable_model("short-answer spaCy pipeline (QA_SHORT_ANSWER_PIPELINE)", name, e,
                                       "give a pipeline folder, or an installed pipeline package's name") from None
            _PIPELINES[name] = nlp
        return nlp


class Analyzer:
    """Entities and noun chunks of sentences with a spaCy pipeline; analyses are cached by
    sentence text (least recently used dropped past ``cache_size``)."""

    def __init__(self, pipeline: str, cache_size: int = _CACHE_SIZE):
        self.pipeline = pipeline
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[Span, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def analyse(self, sentences: list[str]) -> list[tuple[Span, ...]]:
        with self._lock:
            todo = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        if todo:
            nlp = load_pipeline(self.pipeline)
            with _PIPELINE_LOCK:  # a spaCy pipeline is not safe to call from two threads at once
                docs = list(nlp.pipe(todo, batch_size=32))
            with self._lock:
                for text, doc in zip(todo, docs):
                    self._cache[text] = tuple(_doc_spans(doc))
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            out = []
            for s in sentences:
                self._cache.move_to_end(s)
                out.append(self._cache[s])
            return out


def _doc_spans(doc: Any) -> list[Span]:
    text = doc.text
    out: list[Span] = []
    ents = []
    for ent in doc.ents:
        s, e = trim(text, ent.start_char, ent.end_char)
        if e <= s:
            continue
        ents.append((ent.start_char, ent.end_char))  # its noun chunk is no candidate either way
        if not describes(text, s, e):
            out.append(Span(s, e, ent.label_))
    if doc.has_annotation("DEP"):
        for chunk in doc.noun_chunks:
            if chunk.root.pos_ == "PRON" or any(chunk.start_char < ee and chunk.end_char > es for es, ee in ents):
                continue
            s, e = trim(text, chunk.start_char, chunk.end_char)
            if e > s:
                out.append(Span(s, e, NOUN_PHRASE, chunk.root.text.lower()))
            out.extend(_proper_runs(chunk, (s, e)))
    return out


def _proper_runs(chunk: Any, whole: tuple[int, int]) -> list[Span]:
    """The proper-noun runs inside a longer noun chunk ("Roald Dahl" in "the Roald Dahl
    classic collection"): candidates of their own."""
    runs: list[list[Any]] = [[]]
    for tok in chunk:
        if tok.pos_ == "PROPN":
            runs[-1].append(tok)
        elif runs[-1]:
            runs.append([])
    out = []
    text = chunk.doc.text
    for run in runs:
        if run and (run[0].idx, run[-1].idx + len(run[-1])) != whole:
            s, e = run[0].idx, run[-1].idx + len(run[-1].text)
            if not describes(text, s, e):
                out.append(Span(s, e, NOUN_PHRASE, run[-1].text.lower()))
    return out


_LOWER_PREFIX = re.compile(r"[a-z]+-")


def describes(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a name inside a hyphenated modifier ("a Varga-backed
    rival", "a pro-Hale group", "Ukraine-born"): it describes something else and answers no
    "which …?"."""
    after = text[end : end + 2]
    before = text[max(0, start - 2) : start]
    return (
        (len(after) == 2 and after[0] == "-" and after[1].islower())
        or (len(before) == 2 and before[1] == "-" and before[0].islower())
        or _LOWER_PREFIX.match(text, start) is not None
    )
