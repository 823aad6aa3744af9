"""Sentence-aware chunking with overlap; each chunk keeps its offsets into the cleaned article."""

from __future__ import annotations

from qa.index.records import chunk_id
from qa.sentences import sentence_spans
from qa.types import Article, Chunk


def chunk_spans(
    text: str, *, target_chars: int, overlap_sentences: int = 1
) -> list[tuple[int, int]]:
    """Group consecutive sentences into spans of about ``target_chars``; never cut a sentence.

    Neighbouring chunks share ``overlap_sentences`` sentences so a fact split across a boundary
    is still whole in one of them. A sentence longer than the target is a chunk of its own.
    """
    sents = list(sentence_spans(text))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(sents):
        j = i
        start = sents[i][0]
        while j + 1 < len(sents) and sents[j + 1][1] - start <= target_chars:
            j += 1
        spans.append((start, sents[j][1]))
        if j + 1 >= len(sents):
            break
        nxt = j + 1 - overlap_sentences
        i = nxt if nxt > i else j + 1
    return spans


def chunk_article(article: Article, *, target_chars: int, overlap_sentences: int = 1) -> list[Chunk]:
    spans = chunk_spans(article.text, target_chars=target_chars, overlap_sentences=overlap_sentences)
    return [
        Chunk(
            chunk_id=chunk_id(article.key, n),
            doc_id=article.doc_id,
            index=n,
            text=article.text[s:e],
            start=s,
            end=e,
        )
        for n, (s, e) in enumerate(spans)
    ]


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What the encoder sees: the title gives every chunk its article's subject."""
    return f"{article.title}\n{chunk.text}" if article.title else chunk.text
