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
    """In-memory banded LSH over the signatures of the documents an index holds."""

    def __init__(self, signatures: Iterable[tuple[str, np.ndarray]] = ()):
        self._bands: list[defaultdict[bytes, set[str]]] = [defaultdict(set) for _ in range(BANDS)]
        self._sigs: dict[str, np.ndarray] = {}
        for doc_id, sig in signatures:
            self.add(doc_id, sig)

    def find(self, doc_id: str, sig: np.ndarray) -> str | None:
        """The most similar other document at or above the threshold, if any (of equally similar
        ones, the smallest id: the same answer in every run)."""
        sig = _checked(sig)
        candidates: set[str] = set()
        for band, key in zip(self._bands, _band_keys(sig)):
            candidates |= band.get(key, set())
        best, best_j = None, THRESHOLD
        for other in sorted(candidates):
            if other == doc_id:
                continue
            j = float(np.mean(self._sigs[other] == sig))
            if j > best_j or (best is None and j >= best_j):
                best, best_j = other, j
        return best

    def add(self, doc_id: str, sig: np.ndarray) -> None:
        if doc_id in self._sigs:
            self.remove(doc_id)
        sig = _checked(sig)
        self._sigs[doc_id] = sig
        for band, key in zip(self._bands, _band_keys(sig)):
            band[key].add(doc_id)

    def remove(self, doc_id: str) -> None:
        sig = self._sigs.pop(doc_id, None)
        if sig is None:
            return
        for band, key in zip(self._bands, _band_keys(sig)):
            members = band.get(key)
            if members is not None:
                members.discard(doc_id)
                if not members:
                    del band[key]


def _checked(sig: np.ndarray) -> np.ndarray:
    raw = np.asarray(sig, dtype=_U32)
    if raw.shape != (NUM_PERM,):
        raise ValueError(f"a near-duplicate signature has shape {raw.shape}, not ({NUM_PERM},)")
    return raw


def _band_keys(raw: np.ndarray) -> list[bytes]:
    """The LSH bucket of a checked signature (``_checked``) in each band."""
    return [raw[i * ROWS : (i + 1) * ROWS].tobytes() for i in range(BANDS)]
