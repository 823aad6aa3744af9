"""Checking a generated answer against the passages it was given, one sentence at a time.

Only supported sentences are kept; every other sentence is dropped and reported:
- a marker [n] that names no passage is removed; a sentence left without a valid marker is dropped;
- a question, or a refusal ("I don't know"), is dropped;
- a quotation ("...") must occur verbatim in a passage the sentence cites;
- every URL and e-mail address, number and capitalised name in the sentence must occur in what it
  cites, and nearly all of its other content words (compared by stem, so inflections match).

"What it cites" is what the model was shown of those passages: title, source, publication date
and text, with each date the text mentions also in its absolute form. The answer is verified
when at least one sentence survives; then every sentence shown is supported.

``Verifier`` checks sentences as they close, so a stream can show each kept sentence at once and
the streamed text is exactly the final answer; ``SentenceBuffer`` cuts a token stream into them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import snowballstemmer

from qa.sentences import is_question, sentence_spans
from qa.temporal import find_time_mentions, format_day
from qa.text import STOPWORDS, content_words
from qa.types import Citation, Passage

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
QUOTE = re.compile(r"[\"“]([^\"”]{8,}?)[\"”]")
REFUSAL = re.compile(r"\b(i don'?t know|i do not know|cannot (?:find|answer)|no information|not (?:mentioned|provided) in)\b", re.I)
LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"  # URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s<>\"]*)?",  # bare domains: evil.example/login
    re.I,
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
MAX_MISSING = 0.2  # share of a sentence's other content words that may be absent from its sources
# markers written after the full stop ("… on Saturday. [1]") belong to the sentence before them
_TRAILING_MARKERS = re.compile(r"([.!?…]+[\"'”’)]*)((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")
_MARKER_PREFIX = re.compile(r"[\[\]\d,;\s]*")


@dataclass
class Verified:
    answer: str
    citations: list[Citation]
    ok: bool
    refused: bool = False
    removed_markers: list[int] = field(default_factory=list)
    unmarked: list[str] = field(default_factory=list)
    bad_quotes: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    reason: str = ""

    def report(self) -> dict[str, object]:
        return {
            "verified": self.ok,
            "removed_markers": self.removed_markers,
            "unmarked_sentences": self.unmarked,
            "invented_quotes": self.bad_quotes,
            "unsupported_sentences": self.unsupported,
        }


# ---------------------------------------------------------------- what a passage supports


def annotate_dates(text: str, published: date | None) -> str:
    """Passage text with each resolved relative date followed by its absolute date."""
    out, pos = [], 0
    for m in find_time_mentions(text, published):
        if m.resolved and not any(ch.isdigit() for ch in m.text):
            out.append(text[pos : m.end])
            out.append(f" ({m.label()})")
            pos = m.end
    out.append(text[pos:])
    return "".join(out)


def evidence(p: Passage) -> str:
    """All that the model was shown of a passage, plus the absolute form of each date it mentions."""
    pub = p.published_at
    dates = [format_day(pub), pub.isoformat()] if pub else []
    for m in find_time_mentions(p.text, pub):
        if m.first and m.last:
            dates += [m.label(), m.first.isoformat(), m.last.isoformat()]
    return "\n".join([p.title, p.source, *dates, annotate_dates(p.text, pub)])


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


def _tokens(text: str) -> list[str]:
    return [t.removesuffix("'s").removesuffix("’s") for t in _TOKEN.findall(text)]


def _number(raw: str) -> str:
    return raw.replace(",", "").lstrip("0") or "0"


class _Evidence:
    """The words, stems, numbers and text of the passages one sentence cites."""

    def __init__(self, text: str):
        self.lower = _norm(text)
        tokens = [t.lower() for t in _tokens(text)]
        self.words = set(tokens)
        self.stems = set(_stemmer().stemWords(tokens))
        self.numbers = {_number(n) for n in _NUMBER.findall(text)}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[“”]", '"', re.sub(r"[‘’]", "'", text)).lower().split())


def unsupported_reason(claim: str, ev: _Evidence) -> str | None:
    """Why ``claim`` (markers removed) is not supported by ``ev``, or None when it is."""
    for link in LINK.findall(claim):
        if _norm(link.rstrip(".,;:!?)]'\"’”")) not in ev.lower:
            return f"link {link!r} is not in the cited passage"
    without_links = LINK.sub(" ", claim)
    for n in _NUMBER.findall(without_links):
        if _number(n) not in ev.numbers:
            return f"number {n} is not in the cited passage"
    tokens = [t for t in _tokens(_NUMBER.sub(" ", without_links)) if not t.isdigit()]
    others: list[str] = []
    for i, t in enumerate(tokens):
        low = t.lower()
        name = len(t) > 1 and (t.isupper() or (i > 0 and t[0].isupper()))
        if name and low not in ev.words and low not in STOPWORDS:
            return f"name {t!r} is not in the cited passage"
        if not name and low not in STOPWORDS and len(low) > 1:
            others.append(low)
    missing = [w for w, s in zip(others, _stemmer().stemWords(others)) if s not in ev.stems and w not in ev.words]
    if missing and len(missing) > MAX_MISSING * len(others):
        return f"words not in the cited passage: {', '.join(missing)}"
    return None


# ---------------------------------------------------------------- sentence by sentence


def neutralise_markers(text: str) -> str:
    """Article text with its own "[n]" written "(n)": only qa puts citation markers in answers."""
    return MARKER.sub(lambda m: f"({m.group(1)})", text)


def attach_markers(text: str) -> str:
    """Move markers written after a sentence's full stop in front of it: 'x. [1]' → 'x [1].'"""
    return _TRAILING_MARKERS.sub(lambda m: m.group(2) + m.group(1), text)


class SentenceBuffer:
    """Cuts streamed text into complete sentences (the same cut ``verify`` makes of the whole)."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, piece: str) -> list[str]:
        """The sentences that ``piece`` completed (none while the last one may still grow)."""
        self.text += piece
        text = attach_markers(self.text)
        spans = list(sentence_spans(text))
        closed = spans[:-1]
        if closed and _MARKER_PREFIX.fullmatch(text[spans[-1][0] :]):
            closed.pop()  # "… Saturday. [1" — the marker may still belong to the sentence before
        if not closed:
            return []
        self.text = text[closed[-1][1] :]
        return [text[s:e] for s, e in closed]

    def flush(self) -> list[str]:
        """The rest, at the end of the stream."""
        text, self.text = attach_markers(self.text), ""
        return [text[s:e] for s, e in sentence_spans(text)]


class Verifier:
    """Checks an answer's sentences in order; ``add`` returns a kept sentence as it is shown."""

    def __init__(self, passages: list[Passage]):
        self.passages = passages
        self.out = Verified("", [], ok=False)
        self.numbers: dict[int, int] = {}  # passage index (1-based) → citation n, in order of first use
        self.kept: list[str] = []
        self.cited: list[list[int]] = []

    def add(self, sentence: str) -> str | None:
        """The sentence as shown (markers renumbered), or None when it is dropped."""
        out = self.out
        cited: list[int] = []

        def keep_valid(m: re.Match[str]) -> str:
            valid = []
            for raw in re.split(r"[,;]", m.group(1)):
                n = int(raw)
                if 1 <= n <= len(self.passages):
                    valid.append(n)
                else:
                    out.removed_markers.append(n)
            cited.extend(valid)
            return "".join(f"[{n}]" for n in valid)

        sentence = MARKER.sub(keep_valid, sentence).strip()
        sentence = re.sub(r"\s+([.!?])", r"\1", sentence)
        if REFUSAL.search(sentence):
            out.refused = True
            return None
        if not cited:
            out.unmarked.append(sentence)
            return None
        if is_question(sentence):
            out.unsupported.append(sentence)
            return None
        raw_sources = " ".join(self.passages[n - 1].text for n in cited)
        bad = [q for q in QUOTE.findall(sentence) if _norm(q) not in _norm(raw_sources)]
        if bad:
            out.bad_quotes.extend(bad)
            return None
        claim = MARKER.sub(" ", sentence)
        if unsupported_reason(claim, _Evidence("\n".join(evidence(self.passages[n - 1]) for n in cited))):
            out.unsupported.append(sentence)
            return None
        for n in cited:
            self.numbers.setdefault(n, len(self.numbers) + 1)
        shown = MARKER.sub(
            lambda m: "".join(f"[{self.numbers[int(x)]}]" for x in re.split(r"[,;]", m.group(1))), sentence
        )
        self.kept.append(shown)
        self.cited.append(cited)
        return shown

    def result(self) -> Verified:
        """The verified answer: the kept sentences, and for each cited passage its best sentence."""
        out = self.out
        out.answer = " ".join(self.kept)
        out.citations = []
        for n, cn in sorted(self.numbers.items(), key=lambda kv: kv[1]):
            p = self.passages[n - 1]
            claim = " ".join(k for k, c in zip(self.kept, self.cited) if n in c)
            s, e = best_sentence(p, claim)
            out.citations.append(
                Citation(cn, p.text[s:e], p.text, p.doc_id, p.title, p.url, p.source, p.published_at, p.start + s, p.start + e)
            )
        if not self.kept:
            out.reason = (
                "the model said it does not know" if out.refused
                else "the answer quotes words that are not in its sources" if out.bad_quotes
                else "no sentence of the answer is supported by a cited passage"
            )
        out.ok = bool(self.kept)
        return out


def best_sentence(passage: Passage, claim: str) -> tuple[int, int]:
    """Offsets (into the passage) of the passage sentence that shares most words with ``claim``."""
    words = set(content_words(claim))
    best, best_n = (0, len(passage.text)), -1
    for s, e in sentence_spans(passage.text):
        n = len(words & set(content_words(passage.text[s:e])))
        if n > best_n:
            best, best_n = (s, e), n
    return best


def verify(text: str, passages: list[Passage]) -> Verified:
    """Verify a whole answer (what a stream fed through ``SentenceBuffer`` and ``Verifier`` gives)."""
    buffer, verifier = SentenceBuffer(), Verifier(passages)
    for sentence in buffer.feed(text) + buffer.flush():
        verifier.add(sentence)
    return verifier.result()
