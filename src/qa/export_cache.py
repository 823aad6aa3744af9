"""A machine-wide cache of ONNX exports, so that only the first index on a machine pays for one.

Making the export imports torch and transformers and traces the model: 8-10 s on 2 cores, most of
a small first ingest (and of every test that makes a fresh index). An export depends only on the
model's weights (``onnx_encoder.fingerprint``) and qa's graph format, so one made for any index
serves every other. Each index still gets its own copy: an index folder stays self-contained, and
deleting the cache changes nothing but the next first ingest's time. An entry is checked against
the sha256 recorded when it was stored; a damaged or partial one is removed and the export made
anew. Entries are stored whole (written aside, then renamed into place), so a killed store leaves
no entry that a reader could take for complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

META = "meta.json"
ONNX = "model.onnx"
TOKENIZER = "tokenizer.json"
KEEP_PER_MODEL = 2  # entries of one model (other weights, other formats); least recently used go first
STALE_SECONDS = 3600  # a store's temporary folder older than this was left by a killed process


def entry(cache: Path, stem: str, fingerprint: str, fmt: int) -> Path:
    """The folder of one model's export, made from these weights in this graph format."""
    return cache / f"{stem}-{fingerprint}-f{fmt}"


def fetch(cache: Path, stem: str, fingerprint: str, fmt: int, onnx_to: Path, tokenizer_to: Path) -> bool:
    """Copy the cached export to ``onnx_to`` and ``tokenizer_to`` if there is a sound one; False
    otherwise (nothing written). An entry whose files do not match its record is removed."""
    folder = entry(cache, stem, fingerprint, fmt)
    if not folder.is_dir():
        return False
    try:  # a store renames a whole folder into place, record included: anything missing is damage
        meta = json.loads((folder / META).read_text())
        sound = (
            isinstance(meta, dict)
            and meta.get("fingerprint") == fingerprint
            and meta.get("format") == fmt
            and _copy(folder / ONNX, onnx_to) == meta.get("onnx_sha256")
            and _copy(folder / TOKENIZER, tokenizer_to) == meta.get("tokenizer_sha256")
        )
    except (OSError, ValueError):
        sound = False
    if not sound:
        onnx_to.unlink(missing_ok=True)
        tokenizer_to.unlink(missing_ok=True)
        _discard(folder)
        return False
    try:
        os.utime(folder / META)  # recently used: kept by _prune
    except OSError:
        pass
    return True


def store(cache: Path, stem: str, fingerprint: str, fmt: int, onnx_file: Path, tokenizer_file: Path) -> None:
    """Keep a copy of an index's fresh export. Best effort: a cache that cannot be written (read-only
    home, full disk) only means the next index exports again."""
    final = entry(cache, stem, fingerprint, fmt)
    if final.exists():
        return
    tmp: Path | None = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache))
        meta = {
            "fingerprint": fingerprint,
            "format": fmt,
            "onnx_sha256": _copy(onnx_file, tmp / ONNX),
            "tokenizer_sha256": _copy(tokenizer_file, tmp / TOKENIZER),
        }
        (tmp / META).write_text(json.dumps(meta) + "\n")
        try:
            os.rename(tmp, final)
            tmp = None
        except OSError:  # another process stored the same export first
            pass
        _prune(cache, stem)
    except OSError:
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst``; the sha256 of what was copied."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(1 << 20):
            digest.update(block)
            fout.write(block)
    return digest.hexdigest()


def _discard(folder: Path) -> None:
    """Remove an entry: renamed aside first, so no reader sees half of it."""
    aside = folder.with_name(f".discarded.{folder.name}.{os.getpid()}")
    try:
        os.rename(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _prune(cache: Path, stem: str) -> None:
    """Keep the ``KEEP_PER_MODEL`` most recently used entries of a model, and remove temporary
    folders that killed stores left behind."""
    mine: list[tuple[float, Path]] = []
    now = time.time()
    for folder in cache.iterdir():
        try:
            if folder.name.startswith("."):
                if now - folder.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
            elif folder.name.rsplit("-", 2)[0] == stem:
                try:
                    used = (folder / META).stat().st_mtime
                except FileNotFoundError:  # damaged: first to go
                    used = 0.0
                mine.append((used, folder))
        except OSError:
            continue
    for _, folder in sorted(mine, reverse=True)[KEEP_PER_MODEL:]:
        _discard(folder)
