"""Exact dense search over memory-mapped float32 parts, with the filters as a numpy mask.

Chroma stays the store of record (texts, metadata, vectors); this is the search path. Chroma's
HNSW cannot apply the as-of filter cheaply (its ``where`` costs ~200 ms at 50k chunks), while a
matrix-vector product over every chunk takes ~7 ms at 100k and ~75 ms at 1M on two cores.
A part also keeps each row's text and record, so a search reads its candidates here too: Chroma's
``get`` of ~150 ids took ~35 ms of a warm question, these files ~2 ms, and a replica's questions
no longer need its Chroma server.

    gen/dense/
      manifest.json     {"dim": 384, "parts": [...], "deleted": {"part": [rows]}}  (per generation)
      <part>.vec.npy    float32 rows, never modified once written
      <part>.ids.json   chunk id per row
      <part>.days.npy   published day (ordinal, UNDATED = -1) per row
      <part>.src.json   source per row
      <part>.rows.jsonl [text, record (as Chroma metadata)] per row, one JSON array a line
      <part>.rows.npy   int64 byte offset of each line, and the file's end

Parts are immutable, so a new generation hard-links them instead of copying; a generation adds
new parts and marks deleted rows in its own manifest. Small parts are merged when they pile up.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.filters import SearchFilters
from qa.index.records import UNDATED, ChunkRecord, from_chroma, to_chroma

DENSE_DIR = "dense"
MANIFEST = "manifest.json"
PART_ROWS = 4096  # rows buffered before a part is written (memory stays flat during an ingest)
MAX_PARTS = 12  # more parts than this and the small ones are merged at commit
ONE_THREAD_MAX_ROWS = 300_000


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """Right after torch encodes the query its OpenMP threads still spin; BLAS threads competing
    with them made a warm search at 100k chunks ~1.6x slower on 2 cores. One BLAS thread avoids
    it; past ONE_THREAD_MAX_ROWS the product is long enough that two threads win anyway."""
    return _blas_controller().limit(limits=1, user_api="blas")


def exists(gen: Path) -> bool:
    return (gen / DENSE_DIR / MANIFEST).exists()


def remove(gen: Path) -> None:
    """Drop a generation's dense folder (its links only: other generations keep their parts)."""
    import shutil

    shutil.rmtree(gen / DENSE_DIR, ignore_errors=True)


def has_rows(gen: Path) -> bool:
    """Whether every part keeps its rows' texts and records (an older qa's parts do not)."""
    folder = gen / DENSE_DIR
    try:
        parts = json.loads((folder / MANIFEST).read_text()).get("parts", [])
        return all(_row_offsets(folder, name, len(json.loads((folder / f"{name}.ids.json").read_text()))) is not None for name in parts)
    except (OSError, ValueError):
        return False


_ROWS, _ROWS_INDEX = ".rows.jsonl", ".rows.npy"


def _row_offsets(folder: Path, name: str, n_rows: int | None = None) -> np.ndarray | None:
    """A part's row offsets if it keeps whole rows (both files, the lines' file as long as the
    offsets say, one line per row when ``n_rows`` is known); None for a part an older qa wrote,
    or one whose rows files are damaged (the writer then rebuilds the matrix from Chroma, as for
    an older qa's)."""
    try:
        offsets = np.load(folder / f"{name}{_ROWS_INDEX}", mmap_mode="r")
        size = os.path.getsize(folder / f"{name}{_ROWS}")
    except (OSError, ValueError):
        return None
    if offsets.ndim != 1 or len(offsets) < 1 or int(offsets[-1]) != size:
        return None
    if n_rows is not None and len(offsets) != n_rows + 1:
        return None
    return offsets


_SUFFIXES = (".vec.npy", ".ids.json", ".days.npy", ".src.json", _ROWS, _ROWS_INDEX)


def is_immutable(relative: str) -> bool:
    """Files a generation copy may hard-link instead of copying."""
    return relative.startswith(DENSE_DIR + os.sep) and not relative.endswith(MANIFEST)


@dataclass
class _Part:
    name: str
    ids: list[str]
    days: np.ndarray
    sources: list[str]
    vectors: np.ndarray


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _load_part(folder: Path, name: str) -> _Part:
    return _Part(
        name=name,
        ids=json.loads((folder / f"{name}.ids.json").read_text()),
        days=np.load(folder / f"{name}.days.npy"),
        sources=json.loads((folder / f"{name}.src.json").read_text()),
        vectors=np.load(folder / f"{name}.vec.npy", mmap_mode="r"),
    )


class DenseWriter:
    """Adds and deletes rows in a generation's dense folder (which starts as its predecessor's)."""

    def __init__(self, gen: Path):
        self.folder = gen / DENSE_DIR
        self.folder.mkdir(exist_ok=True)
        path = self.folder / MANIFEST
        manifest = json.loads(path.read_text()) if path.exists() else {}
        self.dim: int | None = manifest.get("dim")
        self.parts: list[str] = list(manifest.get("parts", []))
        self.deleted: dict[str, set[int]] = {k: set(v) for k, v in manifest.get("deleted", {}).items()}
        self._rows: dict[str, tuple[str, int]] | None = None  # chunk id → (part, row), built lazily
        self._loaded: dict[str, tuple[_Part, np.ndarray]] = {}  # parts ``rows`` read (parts never change)
        self._buf_ids: list[str] = []
        self._buf_days: list[int] = []
        self._buf_src: list[str] = []
        self._buf_vec: list[np.ndarray] = []
        self._buf_rows: list[tuple[str, ChunkRecord]] = []

    def add(
        self,
        ids: list[str],
        vectors: np.ndarray,
        days: list[int],
        sources: list[str],
        rows: list[tuple[str, ChunkRecord]],
    ) -> None:
        """Rows to search with their (text, record), which a search reads from here."""
        if not ids:
            return
        if not len(ids) == len(vectors) == len(days) == len(sources) == len(rows):
            raise ValueError(
                f"dense rows: {len(ids)} ids, {len(vectors)} vectors, {len(days)} days, {len(sources)} sources, {len(rows)} texts"
            )
        self.dim = self.dim or int(vectors.shape[1])
        self._buf_ids += ids
        self._buf_days += days
        self._buf_src += sources
        self._buf_vec.append(np.asarray(vectors, dtype=np.float32))
        self._buf_rows += rows
        if len(self._buf_ids) >= PART_ROWS:
            self._flush()

    def delete(self, ids: list[str]) -> None:
        rows = self._row_map()
        doomed = set(ids)
        for cid in ids:
            where = rows.pop(cid, None)
            if where is not None:
                self.deleted.setdefault(where[0], set()).add(where[1])
        if self._buf_ids and doomed.intersection(self._buf_ids):
            keep = [i for i, c in enumerate(self._buf_ids) if c not in doomed]
            vec = np.concatenate(self._buf_vec)[keep]
            self._buf_ids = [self._buf_ids[i] for i in keep]
            self._buf_days = [self._buf_days[i] for i in keep]
            self._buf_src = [self._buf_src[i] for i in keep]
            self._buf_vec = [vec]
            self._buf_rows = [self._buf_rows[i] for i in keep]

    def commit(self) -> None:
        """Write the buffered rows, merge small parts if there are many, then the manifest."""
        self._flush()
        if len(self.parts) > MAX_PARTS or self._deleted_share() > 0.25:
            self._merge()
        _write_json(
            self.folder / MANIFEST,
            {
                "dim": self.dim,
                "parts": self.parts,
                "deleted": {k: sorted(v) for k, v in self.deleted.items() if v},
            },
        )

    def rows(self, ids: list[str]) -> tuple[list[str], list[str], list[ChunkRecord], np.ndarray]:
        """(ids, texts, records, vectors) of the live committed chunks among ``ids``, in their
        order (the Chroma parts are merged from these; see chroma_parts)."""
        found = self._row_map()
        by_part: dict[str, list[tuple[int, str]]] = {}
        for cid in ids:
            where = found.get(cid)
            if where is not None:
                by_part.setdefault(where[0], []).append((where[1], cid))
        out: dict[str, tuple[str, ChunkRecord, np.ndarray]] = {}
        for name, rows in by_part.items():
            if name not in self._loaded:  # a merge asks a batch at a time: each part is read once
                part = _load_part(self.folder, name)
                offsets = _row_offsets(self.folder, name, len(part.ids))
                if offsets is None:
                    raise ValueError(f"dense part {name} in {self.folder} lost its rows files")
                self._loaded[name] = (part, offsets)
            part, offsets = self._loaded[name]
            with open(self.folder / f"{name}{_ROWS}", "rb") as f:
                for row, cid in rows:
                    start, end = int(offsets[row]), int(offsets[row + 1])
                    text, meta = json.loads(os.pread(f.fileno(), end - start, start))
                    out[cid] = (text, from_chroma(meta), np.asarray(part.vectors[row], dtype=np.float32))
        kept = [cid for cid in ids if cid in out]
        vectors = np.stack([out[c][2] for c in kept]) if kept else np.zeros((0, self.dim or 0), np.float32)
        return kept, [out[c][0] for c in kept], [out[c][1] for c in kept], vectors

    # ------------------------------------------------------------ internals
    def _row_map(self) -> dict[str, tuple[str, int]]:
        if self._rows is None:
            self._rows = {}
            for name in self.parts:
                gone = self.deleted.get(name, set())
                ids = json.loads((self.folder / f"{name}.ids.json").read_text())
                for row, cid in enumerate(ids):
                    if row not in gone:
                        self._rows[cid] = (name, row)
        return self._rows

    def _flush(self) -> None:
        if not self._buf_ids:
            return
        lines = [_row_line(t, r) for t, r in self._buf_rows]
        name = self._write_part(self._buf_ids, np.concatenate(self._buf_vec), self._buf_days, self._buf_src, lines)
        if self._rows is not None:
            for row, cid in enumerate(self._buf_ids):
                self._rows[cid] = (name, row)
        self._buf_ids, self._buf_days, self._buf_src, self._buf_vec, self._buf_rows = [], [], [], [], []

    def _write_part(
        self, ids: list[str], vectors: np.ndarray, days: list[int] | np.ndarray, sources: list[str], lines: Iterable[bytes]
    ) -> str:
        """A new part's files (the manifest written at commit is what makes it part of the index)."""
        name = f"p-{uuid.uuid4().hex[:12]}"
        np.save(self.folder / f"{name}.vec.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        np.save(self.folder / f"{name}.days.npy", np.asarray(days, dtype=np.int32))
        (self.folder / f"{name}.src.json").write_text(json.dumps(sources))
        (self.folder / f"{name}.ids.json").write_text(json.dumps(ids))
        lengths = [0]
        with open(self.folder / f"{name}{_ROWS}", "wb") as f:
            for line in lines:
                f.write(line)
                lengths.append(len(line))
        if len(lengths) != len(ids) + 1:
            raise ValueError(f"dense part {name}: {len(lengths) - 1} rows for {len(ids)} ids")
        np.save(self.folder / f"{name}{_ROWS_INDEX}", np.cumsum(lengths, dtype=np.int64))
        self.parts.append(name)
        return name

    def _deleted_share(self) -> float:
        dead = sum(len(v) for v in self.deleted.values())
        if not dead:
            return 0.0
        total = sum(np.load(self.folder / f"{p}.vec.npy", mmap_mode="r").shape[0] for p in self.parts)
        return dead / max(total, 1)

    def _merge(self) -> None:
        """Rewrite the smaller parts (and any with deleted rows) as one part."""
        sizes = {p: os.path.getsize(self.folder / f"{p}.vec.npy") for p in self.parts}
        largest = max(self.parts, key=lambda p: sizes[p])
        chosen = [p for p in self.parts if p != largest or self.deleted.get(p)]
        if len(chosen) < 2 and not any(self.deleted.get(p) for p in chosen):
            return
        ids: list[str] = []
        days: list[np.ndarray] = []
        sources: list[str] = []
        vectors: list[np.ndarray] = []
        kept: list[tuple[str, np.ndarray, np.ndarray]] = []  # (part, its row offsets, its live rows)
        for name in chosen:
            part = _load_part(self.folder, name)
            alive = np.ones(len(part.ids), dtype=bool)
            alive[list(self.deleted.pop(name, set()))] = False
            ids += [c for c, a in zip(part.ids, alive) if a]
            sources += [s for s, a in zip(part.sources, alive) if a]
            days.append(part.days[alive])
            vectors.append(np.asarray(part.vectors[alive]))
            offsets = _row_offsets(self.folder, name, len(part.ids))
            if offsets is None:  # a writer opens only folders whose parts all keep them (has_rows)
                raise ValueError(f"dense part {name} in {self.folder} lost its rows files")
            kept.append((name, offsets, np.flatnonzero(alive)))
        if ids:  # reads the old parts' rows
            self._write_part(ids, np.concatenate(vectors), np.concatenate(days), sources, _live_lines(self.folder, kept))
        self.parts = [p for p in self.parts if p not in chosen]
        for name in chosen:  # this generation's links only; older generations keep theirs
            for suffix in _SUFFIXES:
                (self.folder / f"{name}{suffix}").unlink(missing_ok=True)
        self._rows = None


def _row_line(text: str, record: ChunkRecord) -> bytes:
    return (json.dumps([text, to_chroma(record)], ensure_ascii=False) + "\n").encode("utf-8")


def _live_lines(folder: Path, parts: list[tuple[str, np.ndarray, np.ndarray]]) -> Iterator[bytes]:
    """The row lines of each part's live rows, in order, read one at a time (a merge of the
    largest part at 1M chunks would otherwise hold ~1.4 GB of text)."""
    for name, offsets, rows in parts:
        with open(folder / f"{name}{_ROWS}", "rb") as f:
            for row in rows.tolist():
                start, end = int(offsets[row]), int(offsets[row + 1])
                yield os.pread(f.fileno(), end - start, start)


class DenseIndex:
    """A published generation's vectors, memory-mapped, searched exactly."""

    def __init__(self, gen: Path):
        folder = gen / DENSE_DIR
        manifest = json.loads((folder / MANIFEST).read_text())
        parts = [_load_part(folder, name) for name in manifest.get("parts", [])]
        self._starts = np.cumsum([0] + [len(p.ids) for p in parts], dtype=np.int64)  # each part's first global row
        # each part's rows, opened now: the caller holds the generation's read lock, and an open
        # file stays readable after a later publish removes an old generation
        self._row_files: list[tuple[np.ndarray, Any] | None] = [_open_rows(folder, p.name, len(p.ids)) for p in parts]
        self._row_files_lock = threading.Lock()
        self._closed = False
        self.ids: list[str] = [c for p in parts for c in p.ids]
        self._matrices = [p.vectors for p in parts]  # memory-mapped: opening reads no vectors
        self.days = np.concatenate([p.days for p in parts]) if parts else np.zeros(0, np.int32)
        names = [s for p in parts for s in p.sources]
        self.source_names = sorted(set(names))
        code = {n: i for i, n in enumerate(self.source_names)}
        self.sources = np.array([code[s] for s in names], dtype=np.int32)
        self._rows: dict[str, int] | None = None
        self.alive = np.ones(len(self.ids), dtype=bool)
        offset = 0
        for p in parts:
            gone = manifest.get("deleted", {}).get(p.name, [])
            if gone:
                self.alive[np.asarray(gone, dtype=np.int64) + offset] = False
            offset += len(p.ids)

    def __len__(self) -> int:
        return int(self.alive.sum())

    def mask(self, filters: SearchFilters | None = None) -> np.ndarray:
        """The live rows the filters let through."""
        keep = self.alive.copy()
        if filters is None:
            return keep
        dated = self.days != UNDATED
        in_range = dated.copy()
        if filters.first_day is not None:
            in_range &= self.days >= filters.first_day
        if filters.last_day is not None:
            in_range &= self.days <= filters.last_day
        keep &= in_range if filters.dated_only else in_range | ~dated
        if filters.source is not None:
            if filters.source not in self.source_names:
                return np.zeros_like(keep)
            keep &= self.sources == self.source_names.index(filters.source)
        return keep

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of every row (vectors are unit length)."""
        v = np.asarray(vector, dtype=np.float32)
        if not self._matrices:
            return np.zeros(0, np.float32)
        if len(self.ids) > ONE_THREAD_MAX_ROWS:  # big enough for two BLAS threads to pay off
            return np.concatenate([m @ v for m in self._matrices])
        with _one_blas_thread():
            return np.concatenate([m @ v for m in self._matrices])

    def top(self, sims: np.ndarray, n: int, keep: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The n best rows the mask lets through: (chunk id, similarity), best first."""
        keep = self.alive if keep is None else keep
        n = min(n, int(keep.sum()))
        if n <= 0:
            return []
        scores = np.where(keep, sims, -np.inf)
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best])]
        return [(self.ids[i], float(scores[i])) for i in best]

    def search(self, vector: np.ndarray, n: int, keep: np.ndarray | None = None) -> tuple[list[tuple[str, float]], np.ndarray]:
        """(chunk id, cosine similarity) best first, and every row's similarity."""
        sims = self.similarities(vector)
        return self.top(sims, n, keep), sims

    def row_of(self, chunk_id: str) -> int | None:
        if self._rows is None:
            self._rows = {c: i for i, c in enumerate(self.ids) if self.alive[i]}
        return self._rows.get(chunk_id)

    def texts(self, ids: list[str]) -> tuple[dict[str, tuple[str, ChunkRecord]], list[str]]:
        """(text, record) of the live chunks among ``ids`` whose part keeps its rows, and the live
        ids whose part keeps none (an older qa's: the caller reads those from Chroma). Ids not
        live here are in neither."""
        out: dict[str, tuple[str, ChunkRecord]] = {}
        elsewhere: list[str] = []
        with self._row_files_lock:
            if self._closed:
                raise RuntimeError("the dense index was closed")
            for cid in ids:
                row = self.row_of(cid)
                if row is None:
                    continue
                k = int(np.searchsorted(self._starts, row, side="right")) - 1
                found = self._row_files[k]
                if found is None:
                    elsewhere.append(cid)
                    continue
                offsets, f = found
                local = row - int(self._starts[k])
                start, end = int(offsets[local]), int(offsets[local + 1])
                text, meta = json.loads(os.pread(f.fileno(), end - start, start))
                out[cid] = (text, from_chroma(meta))
        return out, elsewhere

    def close(self) -> None:
        with self._row_files_lock:
            self._closed = True
            for found in self._row_files:
                if found is not None:
                    found[1].close()
            self._row_files = []


def _open_rows(folder: Path, name: str, n_rows: int) -> tuple[np.ndarray, Any] | None:
    offsets = _row_offsets(folder, name, n_rows)
    if offsets is None:
        return None
    return offsets, open(folder / f"{name}{_ROWS}", "rb")  # kept open; DenseIndex.close closes it
