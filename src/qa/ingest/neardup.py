"""Near-duplicate articles (the same wire story on many sites, lightly edited): MinHash signatures
of word 5-gram shingles, an LSH index to find candidates, kept once and linked to the others.

The signatures are datasketch's ``MinHash(num_perm=64, scheme="affine32", seed=1)``, bit for bit
(stored signatures stay comparable; a test checks it against datasketch), computed here with
numpy: importing datasketch imports scipy.integrate, ~0.4 s of every cold ingest.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

NUM_PERM = 64
THRESHOLD = 0.8
SHINGLE = 5
SEED = 1
BANDS, ROWS = 16, 4  # a pair at Jaccard 0.8 shares a band with p > 0.999; candidates are then checked
assert BANDS * ROWS == NUM_PERM
assert BANDS > NUM_PERM * (1 - THRESHOLD)  # so every pair at the threshold shares a band (NearDuplicateIndex)
_WORD = re.compile(r"\w+")
_U32 = np.uint32


def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations h -> a*h + b (mod 2^32), a odd, drawn from its seed."""
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=_U32)
    return a, b


_A, _B = _permutations()


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer: datasketch pre-mixes every input hash with it."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def signature(text: str) -> np.ndarray:
    """The MinHash of the text's word 5-gram shingles (lowercased)."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE]).encode() for i in range(max(1, len(words) - SHINGLE + 1))}
    hashed = np.fromiter(
        (struct.unpack("<I", hashlib.sha1(s).digest()[:4])[0] for s in shingles), dtype=_U32, count=len(shingles)
    )
    with np.errstate(over="ignore"):  # uint32 wraparound is the modulo 2^32
        permuted = _fmix32(hashed).reshape(-1, 1) * _A + _B
    return permuted.min(axis=0).astype(_U32)


class NearDuplicateIndex:
    """Banded LSH over the signatures of the documents an index holds.

    The documents it starts with are held as arrays, each band's keys sorted once with numpy (a
    cold ingest into a 10k-document index built a dict per band in Python: ~0.2 s, more than its
    whole plan); the documents a run adds go into dicts. The sorted keys are 64-bit hashes of the
    bands: a collision only adds a candidate, which the similarity check then drops. And the bands
    miss nothing: a document at the threshold differs in at most 12 of 64 values, so it shares at
    least 4 of the 16 bands whole."""

    def __init__(self, signatures: Iterable[tuple[str, np.ndarray]] = ()):
        base = {doc_id: _checked(sig) for doc_id, sig in signatures}  # the last of an id wins
        self._ids = list(base)
        self._rows = {doc_id: i for i, doc_id in enumerate(self._ids)}  # still-present base documents
        self._matrix = np.stack(list(base.values())) if base else np.zeros((0, NUM_PERM), dtype=_U32)
        keys = _band_hashes(self._matrix)  # (documents, BANDS)
        self._order = np.argsort(keys, axis=0, kind="stable")
        self._sorted = np.take_along_axis(keys, self._order, axis=0)
        self._bands: list[defaultdict[bytes, set[str]]] = [defaultdict(set) for _ in range(BANDS)]
        self._sigs: dict[str, np.ndarray] = {}  # documents added since

    def find(self, doc_id: str, sig: np.ndarray) -> str | None:
        """The most similar other document at or above the threshold, if any (of equally similar
        ones, the smallest id: the same answer in every run)."""
        sig = _checked(sig)
        candidates: set[str] = set()
        for band, key in zip(self._bands, _band_keys(sig)):
            candidates |= band.get(key, set())
        if len(self._ids):
            keys = _band_hashes(sig.reshape(1, -1))[0]
            for b, key in enumerate(keys):
                lo, hi = np.searchsorted(self._sorted[:, b], key, "left"), np.searchsorted(self._sorted[:, b], key, "right")
                for row in self._order[lo:hi, b]:
                    other = self._ids[row]
                    if self._rows.get(other) == row:  # not removed or replaced since
                        candidates.add(other)
        best, best_j = None, THRESHOLD
        for other in sorted(candidates):
            if other == doc_id:
                continue
            j = float(np.mean(self._signature(other) == sig))
            if j > best_j or (best is None and j >= best_j):
                best, best_j = other, j
        return best

    def add(self, doc_id: str, sig: np.ndarray) -> None:
        sig = _checked(sig)
        self.remove(doc_id)
        self._sigs[doc_id] = sig
        for band, key in zip(self._bands, _band_keys(sig)):
            band[key].add(doc_id)

    def remove(self, doc_id: str) -> None:
        self._rows.pop(doc_id, None)
        sig = self._sigs.pop(doc_id, None)
        if sig is None:
            return
        for band, key in zip(self._bands, _band_keys(sig)):
            members = band.get(key)
            if members is not None:
                members.discard(doc_id)
                if not members:
                    del band[key]

    def _signature(self, doc_id: str) -> np.ndarray:
        added = self._sigs.get(doc_id)
        return added if added is not None else self._matrix[self._rows[doc_id]]


def _checked(sig: np.ndarray) -> np.ndarray:
    raw = np.asarray(sig, dtype=_U32)
    if raw.shape != (NUM_PERM,):
        raise ValueError(f"a near-duplicate signature has shape {raw.shape}, not ({NUM_PERM},)")
    return raw


def _band_keys(raw: np.ndarray) -> list[bytes]:
    """The LSH bucket of a checked signature (``_checked``) in each band."""
    return [raw[i * ROWS : (i + 1) * ROWS].tobytes() for i in range(BANDS)]


def _band_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's key in each band: (rows, BANDS) uint64."""
    pairs = np.ascontiguousarray(matrix, dtype=_U32).view(np.uint64).reshape(len(matrix), BANDS, ROWS // 2)
    with np.errstate(over="ignore"):
        return pairs[:, :, 0] * np.uint64(0x9E3779B97F4A7C15) ^ pairs[:, :, 1]
