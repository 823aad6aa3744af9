"""Checking a generated answer against the passages it was given.

- a marker [n] that names no passage is removed;
- a sentence with no valid marker is flagged (or dropped, by setting);
- a quoted span ("...") must occur in a passage the sentence cites;
- a sentence must be supported by what it cites (most of its content words occur there).
The answer passes when at least one sentence survives and no quote was invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.sentences import sentence_spans
from qa.text import content_words
from qa.types import Citation, Passage

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
QUOTE = re.compile(r"[\"“]([^\"”]{8,}?)[\"”]")
REFUSAL = re.compile(r"\b(i don'?t know|i do not know|cannot (?:find|answer)|no information|not (?:mentioned|provided) in)\b", re.I)
SUPPORT = 0.5


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


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[“”]", '"', text).lower().split())


def best_sentence(passage: Passage, claim: str) -> tuple[int, int]:
    """Offsets (into the passage) of the passage sentence that shares most words with ``claim``."""
    words = set(content_words(claim))
    best, best_n = (0, len(passage.text)), -1
    for s, e in sentence_spans(passage.text):
        n = len(words & set(content_words(passage.text[s:e])))
        if n > best_n:
            best, best_n = (s, e), n
    return best


def verify(text: str, passages: list[Passage], *, drop_unmarked: bool = False) -> Verified:
    text = text.strip()
    if not text or REFUSAL.search(text):
        return Verified(text, [], ok=False, refused=True, reason="the model said it does not know")
    out = Verified("", [], ok=False)
    numbers: dict[int, int] = {}  # passage index (1-based) → citation n
    kept: list[str] = []
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        cited: list[int] = []

        def keep_valid(m: re.Match[str]) -> str:
            valid = []
            for raw in re.split(r"[,;]", m.group(1)):
                n = int(raw)
                if 1 <= n <= len(passages):
                    valid.append(n)
                else:
                    out.removed_markers.append(n)
            cited.extend(valid)
            return "".join(f"[{n}]" for n in valid)

        sentence = MARKER.sub(keep_valid, sentence).strip()
        sentence = re.sub(r"\s+([.!?])", r"\1", sentence)
        if not cited:
            out.unmarked.append(sentence)
            if drop_unmarked:
                continue
            kept.append(sentence)
            continue
        sources = " ".join(passages[n - 1].text for n in cited)
        quotes = QUOTE.findall(sentence)
        if any(_norm(q) not in _norm(sources) for q in quotes):
            out.bad_quotes.extend(q for q in quotes if _norm(q) not in _norm(sources))
            continue
        claim_words = set(content_words(MARKER.sub("", sentence)))
        source_words = set(content_words(sources))
        if claim_words and len(claim_words & source_words) / len(claim_words) < SUPPORT:
            out.unsupported.append(sentence)
            continue
        for n in cited:
            if n not in numbers:
                numbers[n] = len(numbers) + 1
        kept.append(sentence)
    # renumber markers 1..k in order of first use, and cite the best sentence of each passage
    def renumber(m: re.Match[str]) -> str:
        return "".join(f"[{numbers[int(x)]}]" for x in re.split(r"[,;]", m.group(1)) if int(x) in numbers)

    out.answer = " ".join(MARKER.sub(renumber, k) for k in kept).strip()
    for n, cn in sorted(numbers.items(), key=lambda kv: kv[1]):
        p = passages[n - 1]
        claim = " ".join(k for k in kept if f"[{n}]" in k)
        s, e = best_sentence(p, claim)
        out.citations.append(
            Citation(cn, p.text[s:e], p.text, p.doc_id, p.title, p.url, p.source, p.published_at, p.start + s, p.start + e)
        )
    if out.bad_quotes:
        out.reason = "the answer quotes words that are not in its sources"
    elif not out.citations:
        out.reason = "no sentence of the answer is supported by a cited passage"
    out.ok = not out.reason
    return out
