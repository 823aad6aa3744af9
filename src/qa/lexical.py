"""The lexical half of the store: BM25 (bm25s) over stemmed tokens of each chunk's indexed text.

Tokens of every chunk are kept in the generation's catalog, so after an ingest only the new
chunks are tokenized; the BM25 matrix is rebuilt from stored tokens when a generation is
published and memory-mapped by readers.
"""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

LEXICAL_DIR = "lexical"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chunk_tokens (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, "
    "day INTEGER NOT NULL, source TEXT NOT NULL, tokens TEXT NOT NULL)"
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(  # type: ignore[return-value]
        texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


class TokenStore:
    """Stemmed tokens per chunk, in the generation's catalog database."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.db.execute(_SCHEMA)
        self.db.execute("CREATE INDEX IF NOT EXISTS chunk_tokens_doc ON chunk_tokens(doc_id)")

    def add(self, metas: list[dict[str, Any]], chunk_ids: list[str], texts: list[str]) -> None:
        """Tokens of new chunks, with the day and source the search filters need."""
        toks = tokenize(texts)
        self.db.executemany(
            "INSERT OR REPLACE INTO chunk_tokens VALUES (?,?,?,?,?)",
            [
                (c, m["doc_id"], int(m.get("published_day", -1)), str(m.get("source", "")), " ".join(t))
                for c, m, t in zip(chunk_ids, metas, toks)
            ],
        )

    def delete_doc(self, doc_id: str) -> None:
        self.db.execute("DELETE FROM chunk_tokens WHERE doc_id=?", (doc_id,))

    def chunk_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT chunk_id FROM chunk_tokens")}

    def build(self, gen: Path) -> int:
        """Write the BM25 index of all stored tokens into ``gen/lexical``; returns chunk count."""
        import bm25s

        ids: list[str] = []
        days: list[int] = []
        sources: list[str] = []
        corpus: list[list[str]] = []
        rows = self.db.execute("SELECT chunk_id, day, source, tokens FROM chunk_tokens ORDER BY rowid")
        for cid, day, source, toks in rows:
            ids.append(cid)
            days.append(day)
            sources.append(source)
            corpus.append(toks.split() or ["∅"])
        out = gen / LEXICAL_DIR
        out.mkdir(exist_ok=True)
        if corpus:
            bm = bm25s.BM25()
            bm.index(corpus, show_progress=False)
            bm.save(str(out), show_progress=False)
        names = sorted(set(sources))
        code = {n: i for i, n in enumerate(names)}
        np.save(out / "days.npy", np.array(days, dtype=np.int32))
        np.save(out / "sources.npy", np.array([code[s] for s in sources], dtype=np.int32))
        (out / "sources.json").write_text(json.dumps(names))
        (out / "ids.json").write_text(json.dumps(ids))
        return len(ids)


class LexicalIndex:
    """A published BM25 index, memory-mapped."""

    def __init__(self, gen: Path):
        import bm25s

        folder = gen / LEXICAL_DIR
        self.ids: list[str] = json.loads((folder / "ids.json").read_text())
        self.days = np.load(folder / "days.npy")
        self.sources = np.load(folder / "sources.npy")
        self.source_names: list[str] = json.loads((folder / "sources.json").read_text())
        self._bm = None
        if self.ids:
            self._bm = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)

    @staticmethod
    def exists(gen: Path) -> bool:
        return (gen / LEXICAL_DIR / "ids.json").exists()

    def mask(self, *, since: int | None, until: int | None, as_of: int | None, source: str | None) -> np.ndarray | None:
        """1.0 for chunks the filters let through (days are ordinals, -1 = undated)."""
        keep = np.ones(len(self.ids), dtype=bool)
        dated = self.days >= 0
        if since is not None:
            keep &= dated & (self.days >= since)
        if until is not None:
            keep &= dated & (self.days <= until)
        if as_of is not None:
            keep &= ~dated | (self.days <= as_of)
        if source is not None:
            code = self.source_names.index(source) if source in self.source_names else -1
            keep &= self.sources == code
        if keep.all():
            return None
        return keep.astype(np.float32)

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) best first; query terms unknown to the index are ignored."""
        if self._bm is None:
            return []
        toks = [t for t in tokenize([query])[0] if t in self._bm.vocab_dict]
        if not toks:
            return []
        n = min(n, len(self.ids))
        docs, scores = self._bm.retrieve(
            [toks], k=n, show_progress=False, n_threads=1, weight_mask=mask
        )
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
