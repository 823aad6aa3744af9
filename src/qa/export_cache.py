"""A machine-wide cache of ONNX exports, so that only the first index on a machine pays for one.

Making the export imports torch and transformers and traces the model: 8-10 s on 2 cores, most of
a small first ingest (and of every test that makes a fresh index). An export depends only on the
model's weights (``onnx_encoder.fingerprint``) and qa's graph format (``EXPORT_FORMAT``, raised
whenever the export code writes something else), so one made for any index serves every other.
Each index still gets its own copy: an index folder stays self-contained, and deleting the cache
changes nothing but the next first ingest's time.

- An entry is stored whole (written aside, then renamed into place) and checked against the
  sha256 recorded with it; a damaged or partial one is removed and the export made anew. The hash
  guards against corruption, not against someone who can write the cache: so a cache folder that
  is a symlink, not the user's own, or writable by others is not used at all (one warning).
- qa removes only what it names itself (``NAME-<fingerprint>-f<format>``, and the temporary
  folders of stores that were killed), never anything else in the folder.
- Every failure of the cache is a miss: the export is then made as without one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

META = "meta.json"
ONNX = "model.onnx"
TOKENIZER = "tokenizer.json"
KEEP_PER_MODEL = 2  # entries of one model (other weights, other formats); least recently used go first
STALE_SECONDS = 3600  # a store's temporary folder older than this was left by a killed process

_STEM, _KEY = r"[A-Za-z0-9_.-]+", r"-[0-9a-f]{32}-f\d+"  # entry(): the model's stem, its fingerprint and format
_ENTRY_RE = re.compile(rf"(?P<stem>{_STEM}){_KEY}")
_LEFTOVER_RE = re.compile(rf"\.{_STEM}{_KEY}\.[a-z0-9_]{{8}}|\.discarded\.{_STEM}{_KEY}\.\d+")  # mkdtemp's, _discard's
_warned: set[Path] = set()


class _WriteError(OSError):
    """Writing the copy failed (the destination's disk or folder): no fault of the entry."""


def entry(cache: Path, stem: str, fingerprint: str, fmt: int) -> Path:
    """The folder of one model's export, made from these weights in this graph format."""
    return cache / f"{stem}-{fingerprint}-f{fmt}"


def fetch(cache: Path, stem: str, fingerprint: str, fmt: int, onnx_to: Path, tokenizer_to: Path) -> bool:
    """Copy the cached export to ``onnx_to`` and ``tokenizer_to`` if there is a sound one; False
    otherwise (nothing left written, never an error). An entry whose files do not match its record
    is removed."""
    try:
        return _fetch(cache, stem, fingerprint, fmt, onnx_to, tokenizer_to)
    except Exception:  # whatever else goes wrong with the cache is a miss, never a failed export
        _unlink(onnx_to, tokenizer_to)
        return False


def _fetch(cache: Path, stem: str, fingerprint: str, fmt: int, onnx_to: Path, tokenizer_to: Path) -> bool:
    folder = entry(cache, stem, fingerprint, fmt)
    try:
        if not os.path.lexists(folder) or not _trusted(cache):
            return False
        if not _trusted(folder, warn=False):  # not ours, in our own folder: never used, made anew
            _discard(folder)
            return False
        meta = json.loads((folder / META).read_text())
        sound = (
            isinstance(meta, dict)
            and meta.get("fingerprint") == fingerprint
            and meta.get("format") == fmt
            and _copy(folder / ONNX, onnx_to) == meta.get("onnx_sha256")
            and _copy(folder / TOKENIZER, tokenizer_to) == meta.get("tokenizer_sha256")
        )
    except _WriteError:  # the index's side failed: the entry is fine
        _unlink(onnx_to, tokenizer_to)
        return False
    except (OSError, ValueError, RecursionError):  # a store renames a whole folder in, record included
        sound = False
    if not sound:
        _unlink(onnx_to, tokenizer_to)
        _discard(folder)
        _prune(cache, stem)
        return False
    try:
        os.utime(folder / META)  # recently used: kept by _prune
    except OSError:
        pass
    return True


def store(cache: Path, stem: str, fingerprint: str, fmt: int, onnx_file: Path, tokenizer_file: Path) -> None:
    """Keep a copy of an index's fresh export. Best effort, never an error: a cache that cannot be
    written (read-only home, full disk) only means the next index exports again."""
    final = entry(cache, stem, fingerprint, fmt)
    tmp: Path | None = None
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        if final.exists() or not _trusted(cache):
            return
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
    except Exception:  # noqa: BLE001 (the index has its export; the cache is only a shortcut)
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _trusted(path: Path, *, warn: bool = True) -> bool:
    """Whether ``path`` is a real folder (no symlink) of this user's that nobody else can write to.
    Other users' entries could hand out any graph with a matching hash, so an untrusted cache is
    not used (said once per process)."""
    st = os.lstat(path)
    mine = not hasattr(os, "geteuid") or (st.st_uid == os.geteuid() and not st.st_mode & 0o022)
    if stat.S_ISDIR(st.st_mode) and mine:
        return True
    if warn and path not in _warned:
        _warned.add(path)
        print(f"qa: warning: the model cache {path} is a symlink, not a folder, or not only yours (owner or "
              f"permissions: `chmod go-w {path}`), so it is not used; QA_MODEL_CACHE names another folder, "
              "empty turns the cache off", file=sys.stderr)
    return False


def _copy(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst``; the sha256 of what was copied. Errors on the ``dst`` side are
    ``_WriteError``s."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin:
        try:
            fout = open(dst, "wb")  # noqa: SIM115 (closed below: a full disk may say so only then)
        except OSError as e:
            raise _WriteError(*e.args) from e
        try:
            while block := fin.read(1 << 20):
                digest.update(block)
                try:
                    fout.write(block)
                except OSError as e:
                    raise _WriteError(*e.args) from e
        finally:
            try:
                fout.close()
            except OSError as e:
                raise _WriteError(*e.args) from e
    return digest.hexdigest()


def _unlink(*files: Path) -> None:
    for f in files:
        try:
            f.unlink(missing_ok=True)
        except OSError:
            pass


def _discard(folder: Path) -> None:
    """Remove an entry: renamed aside first, so no reader sees half of it."""
    aside = folder.with_name(f".discarded.{folder.name}.{os.getpid()}")
    try:
        os.rename(folder, aside)
        if aside.is_symlink() or not aside.is_dir():
            aside.unlink()
            return
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _prune(cache: Path, stem: str) -> None:
    """Keep the ``KEEP_PER_MODEL`` most recently used entries of a model, and remove the temporary
    folders that killed stores left behind. Nothing that qa did not name is touched."""
    mine: list[tuple[float, Path]] = []
    now = time.time()
    try:
        folders = list(cache.iterdir())
    except OSError:
        return
    for folder in folders:
        try:
            if _LEFTOVER_RE.fullmatch(folder.name):
                if now - folder.lstat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
            elif (m := _ENTRY_RE.fullmatch(folder.name)) and m["stem"] == stem and folder.is_dir():
                try:
                    used = (folder / META).stat().st_mtime
                except FileNotFoundError:  # damaged: first to go
                    used = 0.0
                mine.append((used, folder))
        except OSError:
            continue
    for _, folder in sorted(mine, reverse=True)[KEEP_PER_MODEL:]:
        _discard(folder)
