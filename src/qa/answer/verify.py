"""Checking a generated answer against the passages it was given, one sentence at a time.

Only supported sentences are kept; every other sentence is dropped and reported:
- a marker [n] that names no passage is removed; a sentence left without a valid marker is dropped;
- a question, or a refusal ("I don't know"), is dropped;
- the text is checked as it is shown: NFKC-normalised, without invisible characters (a zero-width
  space between letters would otherwise turn every word into one-letter tokens);
- a quotation, in any quote style, must occur verbatim in a passage the sentence cites;
- every URL and e-mail address, number, capitalised name, one-letter word and the first word
  (unless a sentence opener such as "However") must occur in what it cites, and nearly all of its
  other content words (compared by stem, so inflections match); at least one of them must;
- a sentence with a negation ("not", "never", "n't", ...) needs one in the cited passage's sentence
  that best matches it.

This is grounding, not proof: a sentence that swaps roles or uses an antonym of one word can pass.

"What it cites" is what the model was shown of those passages: title, source, publication date
and text, with each date the text mentions also in its absolute form. The answer is verified
when at least one sentence survives; then every sentence shown is supported.

``Verifier`` checks sentences as they close, so a stream can show each kept sentence at once and
the streamed text is exactly the final answer; ``SentenceBuffer`` cuts a token stream into them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import snowballstemmer

from qa.sentences import is_question, sentence_spans
from qa.temporal import find_time_mentions, format_day, with_absolute_dates
from qa.text import STOPWORDS, content_words
from qa.types import Citation, Passage

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
QUOTE = re.compile(
    r"[\"“”„«»‹›「『]([^\"“”„«»‹›「『」』]+?)[\"“”«»‹›」』]"  # "…" “…” „…“ «…» »…« ‹…› 「…」 『…』
    r"|(?<!\w)['‘‚]((?:[^'‘’‚]|['’](?=\w))+?)['‘’](?!\w)"  # '…' ‘…’ ‚…‘ (an apostrophe inside is part of it)
)
MIN_QUOTE = 8  # characters; shorter quoted words are checked as words
NEGATION = re.compile(r"\b(?:not|no|never|nor|neither|none|nobody|nothing|nowhere|without|cannot)\b|\Bn['’]t\b", re.I)
# first words that need not be in the passage (a first word is otherwise checked like a name)
OPENERS = frozenset(
    """however yes meanwhile also earlier later today yesterday tomorrow now then still instead moreover
    furthermore additionally overall finally first second third separately similarly likewise nevertheless
    nonetheless thus therefore hence indeed notably previously subsequently currently recently since while
    although though both according""".split()
)
# characters that display as nothing besides format controls (category Cf: zero-width space and
# joiners, soft hyphen, word joiner, BOM, bidi controls): variation selectors, the combining grapheme
# joiner, Hangul fillers, Khmer and Mongolian invisible vowels and selectors
_INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
    + "".join(map(chr, [*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))
)
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


def visible_text(text: str) -> str:
    """Text as it is verified and shown: no invisible characters, NFKC (so superscript and
    full-width digits are digits, and compatibility letters are letters)."""
    kept = "".join(ch for ch in text if ch not in _INVISIBLE and unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", kept)


def quotations(sentence: str) -> list[str]:
    """The quoted passages of a sentence, in every quote style."""
    return [q for m in QUOTE.finditer(sentence) if len(q := m.group(1) or m.group(2)) >= MIN_QUOTE]


def annotate_dates(text: str, published: date | None) -> str:
    """Passage text with each date that does not name its year followed by its absolute date."""
    return with_absolute_dates(text, find_time_mentions(text, published))


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
    digits = "".join(str(unicodedata.decimal(ch, ch)) for ch in raw.replace(",", ""))
    return digits.lstrip("0") or "0"


class _Evidence:
    """The words, stems, numbers and text of the passages one sentence cites."""

    def __init__(self, text: str):
        text = visible_text(text)
        self.lower = _norm(text)
        tokens = [t.lower() for t in _tokens(text)]
        self.words = set(tokens)
        self.stems = set(_stemmer().stemWords(tokens))
        self.numbers = {_number(n) for n in _NUMBER.findall(text)}
        self.sentences = [text[s:e] for s, e in sentence_spans(text)]

    def has(self, word: str, stem: bool = False) -> bool:
        """Whether ``word`` (lower case) is a word of the evidence, or with ``stem`` shares a stem."""
        return word in self.words or stem and _stemmer().stemWord(word) in self.stems

    def negated(self, stems: set[str]) -> bool:
        """Whether an evidence sentence that best matches the claim's ``stems`` has a negation."""
        overlap = [len(stems & set(_stemmer().stemWords([t.lower() for t in _tokens(s)]))) for s in self.sentences]
        best = max(overlap, default=0)
        return any(n == best and NEGATION.search(s) for n, s in zip(overlap, self.sentences))


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[“”„«»‹›「」『』]", '"', re.sub(r"[‘’‚]", "'", text)).lower().split())


def unsupported_reason(claim: str, ev: _Evidence) -> str | None:
    """Why ``claim`` (markers removed) is not supported by ``ev``, or None when it is."""
    for link in LINK.findall(claim):
        if _norm(link.rstrip(".,;:!?)]'\"’”")) not in ev.lower:
            return f"link {link!r} is not in the cited passage"
    without_links = LINK.sub(" ", claim)
    numbers = _NUMBER.findall(without_links)
    for n in numbers:
        if _number(n) not in ev.numbers:
            return f"number {n} is not in the cited passage"
    tokens = [t for t in _tokens(_NUMBER.sub(" ", without_links)) if not t.isdigit()]
    content = [(i, t, t.lower()) for i, t in enumerate(tokens) if t.lower() not in STOPWORDS]
    others: list[str] = []
    found = len(numbers)  # numbers, names and words of the sentence that the evidence has
    for i, t, low in content:
        if i == 0 and low in OPENERS:
            continue
        if t.isupper() or (i > 0 and t[0].isupper()) or len(low) == 1:
            if not ev.has(low):
                return f"name {t!r} is not in the cited passage"
        elif i == 0:
            if not ev.has(low, stem=True):
                return f"first word {t!r} is not in the cited passage"
        else:
            others.append(low)
            continue
        found += 1
    missing = [w for w in others if not ev.has(w, stem=True)]
    if missing and len(missing) > MAX_MISSING * len(others):
        return f"words not in the cited passage: {', '.join(missing)}"
    if found + len(others) - len(missing) == 0:
        return "nothing in the sentence is in the cited passage"
    if NEGATION.search(without_links) and not ev.negated(set(_stemmer().stemWords([low for _, _, low in content]))):
        return "a negation that the cited passage's matching sentence does not make"
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

        sentence = MARKER.sub(keep_valid, visible_text(sentence)).strip()
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
        raw_sources = _norm(visible_text(" ".join(self.passages[n - 1].text for n in cited)))
        bad = [q for q in quotations(sentence) if _norm(q) not in raw_sources]
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
