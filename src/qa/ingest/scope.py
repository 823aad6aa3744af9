"""Recorded paths, and what `qa ingest INPUTS --prune` may remove: only documents recorded under this run's inputs
(as LangChain's indexing API scopes cleanup to the source it was given).

A folder covers every recorded path below it and below the symlinked folders reading it follows,
a file covers itself, a glob covers the recorded paths it matches (and what lies below a folder it
matches, as ``expand_inputs`` reads it). An input
that does not exist covers nothing, so a mistyped folder prunes nothing; stdin covers nothing.
A recorded file is pruned only when it is known to be gone (``is_gone``): one below a folder that
cannot be entered is not.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from qa.ingest.loaders import STDIN, folders_read, glob_covers, split_glob

_WILDCARDS = "*?["
API = "<api>"  # the path Assistant.ingest records for records given as dicts
NOT_FILES = ("", STDIN, API)


def recorded_path(name: str) -> str:
    """How an article's origin is recorded: a file as its absolute resolved path, whatever the
    working directory; stdin and the API by their markers; a URL (a page or feed fetched) as
    it is."""
    return name if name in NOT_FILES or is_url_record(name) else str(Path(name).resolve())


def is_url_record(path: str) -> bool:
    """Whether a recorded origin is a fetched URL (a page, feed or sitemap): never a file, never
    pruned, always able to provide its documents again."""
    return path.startswith(("http://", "https://"))


def is_file_record(path: str) -> bool:
    """Whether a recorded path names a file (not stdin, the API, a URL, or nothing)."""
    return path not in NOT_FILES and not is_url_record(path)


class PruneScope:
    def __init__(self, specs: list[str]):
        self._folders: list[Path] = []
        self._files: set[str] = set()
        self._globs: list[tuple[Path, tuple[str, ...]]] = []
        for spec in specs:
            self._add(spec)

    def _add(self, spec: str) -> None:
        if spec == STDIN:
            return
        p = Path(spec).expanduser()
        try:
            if p.is_dir():
                self._folders.extend(folders_read(p))
            elif p.exists():
                self._files.add(str(p.resolve()))
            elif any(ch in spec for ch in _WILDCARDS):
                root, pattern = split_glob(p)
                if root.is_dir():
                    self._globs.append((root.resolve(), pattern))
        except OSError:  # a folder on its way cannot be entered: it covers nothing
            return

    def covers(self, recorded: str) -> bool:
        """Whether this run's inputs name the absolute ``recorded`` path."""
        path = PurePath(recorded)
        if recorded in self._files or any(path.is_relative_to(f) for f in self._folders):
            return True
        return any(
            path.is_relative_to(root) and glob_covers(pattern, path.relative_to(root).parts)
            for root, pattern in self._globs
        )

    def __bool__(self) -> bool:
        return bool(self._folders or self._files or self._globs)


def may_provide(path: str) -> bool:
    """Whether a recorded origin may still provide its document: stdin, the API, a URL and an
    older index's relative path (never judged on a guess) always do, a file until it is gone."""
    return not is_file_record(path) or is_relative_record(path) or not is_gone(path)


def is_gone(path: str) -> bool:
    """Whether the file ``path`` is known to be gone: not there, or a folder on its way is not.
    One that cannot be looked at (a folder that cannot be entered) is not known to be gone."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def is_relative_record(path: str) -> bool:
    """A file path recorded by an older qa, as it was given: never pruned on a guess."""
    return is_file_record(path) and not os.path.isabs(path)
