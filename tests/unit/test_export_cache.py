"""The machine-wide export cache's bookkeeping (qa.export_cache), on small stand-in files: what it
hands out is exactly what was stored, a damaged entry is never handed out, and it stays small."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa import export_cache
from qa.settings import Settings

FP1, FP2, FP3, FP4, FP9 = (f"{i:032x}" for i in (1, 2, 3, 4, 9))  # weights' fingerprints


def _export(folder: Path, payload: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    onnx, tok = folder / "m.onnx", folder / "m.tokenizer.json"
    onnx.write_bytes(payload)
    tok.write_text('{"tokenizer": 1}')
    return onnx, tok


def test_a_stored_export_is_handed_out_byte_for_byte_and_only_for_its_weights_and_format(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"graph" * 1000)
    out_onnx, out_tok = tmp_path / "out.onnx", tmp_path / "out.tok"
    assert not export_cache.fetch(cache, "m", FP1, 2, out_onnx, out_tok)  # nothing stored yet
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    assert export_cache.fetch(cache, "m", FP1, 2, out_onnx, out_tok)
    assert out_onnx.read_bytes() == onnx.read_bytes() and out_tok.read_text() == tok.read_text()
    for other in (("m", FP2, 2), ("m", FP1, 1), ("n", FP1, 2)):  # other weights, format, model
        assert not export_cache.fetch(cache, *other, tmp_path / "x.onnx", tmp_path / "x.tok")
        assert not (tmp_path / "x.onnx").exists()
    assert [p.name for p in cache.iterdir()] == [f"m-{FP1}-f2"]  # no temporary folder left


def test_a_damaged_entry_is_never_handed_out_and_is_removed(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"graph" * 1000)
    out_onnx, out_tok = tmp_path / "out.onnx", tmp_path / "out.tok"
    for damage in ("truncate", "flip", "record", "missing"):
        export_cache.store(cache, "m", FP1, 2, onnx, tok)
        entry = export_cache.entry(cache, "m", FP1, 2)
        if damage == "truncate":  # a disk that filled up, a copy cut short
            (entry / export_cache.ONNX).write_bytes(b"graph" * 10)
        elif damage == "flip":
            data = bytearray((entry / export_cache.ONNX).read_bytes())
            data[100] ^= 1
            (entry / export_cache.ONNX).write_bytes(bytes(data))
        elif damage == "record":
            (entry / export_cache.META).write_text("{not json")
        else:
            (entry / export_cache.TOKENIZER).unlink()
        assert not export_cache.fetch(cache, "m", FP1, 2, out_onnx, out_tok), damage
        assert not out_onnx.exists() and not out_tok.exists(), damage  # nothing half-copied left
        assert not entry.exists(), damage  # so the next export is stored in its place


def test_a_second_store_of_the_same_export_changes_nothing(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"first")
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    onnx2, tok2 = _export(tmp_path / "index-b", b"second")
    export_cache.store(cache, "m", FP1, 2, onnx2, tok2)
    out = tmp_path / "out.onnx"
    assert export_cache.fetch(cache, "m", FP1, 2, out, tmp_path / "out.tok") and out.read_bytes() == b"first"


def test_the_cache_keeps_the_most_recently_used_entries_of_a_model_and_clears_killed_stores(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"g")
    export_cache.store(cache, "other-model", FP9, 2, onnx, tok)
    for i, fp in enumerate((FP1, FP2)):
        export_cache.store(cache, "m", fp, 2, onnx, tok)
        os.utime(export_cache.entry(cache, "m", fp, 2) / export_cache.META, (1000 + i, 1000 + i))
    assert export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o", tmp_path / "t")  # used: newest now
    killed = cache / f".m-{FP4}-f2.k7x_2ab9"
    killed.mkdir()
    os.utime(killed, (1, 1))  # a store killed long ago
    export_cache.store(cache, "m", FP3, 2, onnx, tok)
    names = sorted(p.name for p in cache.iterdir())
    assert names == [f"m-{FP1}-f2", f"m-{FP3}-f2", f"other-model-{FP9}-f2"], names


def test_nothing_qa_did_not_name_is_ever_removed_from_the_cache_folder(tmp_path):
    """QA_MODEL_CACHE may point at a folder that holds other things: only qa's own entries and
    its killed stores' temporary folders are ever pruned."""
    cache = tmp_path / "project"
    cache.mkdir(mode=0o700)
    theirs = [cache / ".git", cache / ".venv", cache / "m-notours", cache / f".m-{FP4}-f2", cache / "src"]
    for folder in theirs:
        folder.mkdir()
        (folder / "keep").write_text("mine")
        os.utime(folder, (1, 1))  # old enough to look abandoned
    onnx, tok = _export(tmp_path / "index-a", b"g")
    for fp in (FP1, FP2, FP3):
        export_cache.store(cache, "m", fp, 2, onnx, tok)
    assert not export_cache.fetch(cache, "m", FP4, 2, tmp_path / "o", tmp_path / "t")
    assert all((folder / "keep").read_text() == "mine" for folder in theirs)


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, capsys, monkeypatch):
    """The sha256 guards against damage, not against another user planting a graph with its own
    hash: a cache that is not only the user's is neither read nor written (one warning)."""
    cache = tmp_path / "shared"
    onnx, tok = _export(tmp_path / "index-a", b"g")
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    assert export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o", tmp_path / "t")
    cache.chmod(0o777)
    assert not export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o2", tmp_path / "t2")
    assert not (tmp_path / "o2").exists()
    export_cache.store(cache, "m", FP2, 2, onnx, tok)
    assert not export_cache.entry(cache, "m", FP2, 2).exists()
    assert capsys.readouterr().err.count("not only yours") == 1
    cache.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(cache)
    monkeypatch.setenv("QA_MODEL_CACHE", str(link))
    assert Settings().resolved_model_cache() == link  # not resolved: the symlink is seen
    assert not export_cache.fetch(link, "m", FP1, 2, tmp_path / "o3", tmp_path / "t3")
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(cache).st_uid + 1)  # as another user sees it
    assert not export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o4", tmp_path / "t4")
    assert export_cache.entry(cache, "m", FP1, 2).is_dir()  # another user's cache is left alone


def test_an_entry_others_could_have_written_in_ones_own_cache_is_removed_and_stored_anew(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"g" * 100)
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    entry = export_cache.entry(cache, "m", FP1, 2)
    entry.chmod(0o777)
    assert not export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o", tmp_path / "t")
    assert not entry.exists()
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    assert export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o", tmp_path / "t")


def test_a_disk_that_fills_up_only_when_the_copy_is_closed_is_a_write_error(tmp_path):
    """Buffered writes may report a full disk (or NFS its quota) only at close: still the copy's
    fault, so the sound entry it was read from stays."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    with pytest.raises(export_cache._WriteError):
        export_cache._copy(small, Path("/dev/full"))


def test_a_copy_that_cannot_be_written_leaves_a_sound_entry_in_place(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"g" * 1000)
    export_cache.store(cache, "m", FP1, 2, onnx, tok)
    missing = tmp_path / "no-such-folder"
    assert not export_cache.fetch(cache, "m", FP1, 2, missing / "o", missing / "t")
    assert export_cache.entry(cache, "m", FP1, 2).is_dir()  # the index's side failed, not the entry
    assert export_cache.fetch(cache, "m", FP1, 2, tmp_path / "o", tmp_path / "t")


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path):
    onnx, tok = _export(tmp_path / "index-a", b"g")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    export_cache.store(blocker / "cache", "m", FP1, 2, onnx, tok)  # best effort: nothing raised
    assert not export_cache.fetch(blocker / "cache", "m", FP1, 2, tmp_path / "o", tmp_path / "t")


def test_the_cache_setting_defaults_to_the_users_cache_folder_and_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().resolved_model_cache() == tmp_path / "xdg" / "qa" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Settings().resolved_model_cache() == Path("~/.cache/qa/models").expanduser()
    monkeypatch.setenv("QA_MODEL_CACHE", "")
    assert Settings().resolved_model_cache() is None
    monkeypatch.delenv("QA_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # not absolute: ignored, as XDG says
    assert Settings().resolved_model_cache() == Path("~/.cache/qa/models").expanduser()
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "mine"))
    assert Settings().resolved_model_cache() == tmp_path / "mine"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QA_MODEL_CACHE", "rel/cache")  # one cache whatever the working directory later
    assert Settings().resolved_model_cache() == tmp_path / "rel" / "cache"


def test_a_user_without_a_home_folder_gets_no_cache_not_a_crash(tmp_path):
    """A container run as a bare uid has no HOME and no passwd entry: every qa command still
    starts (Settings), without a cache."""
    import subprocess
    import sys

    if not hasattr(os, "setuid") or os.geteuid() != 0:
        pytest.skip("needs root, to become a uid without a passwd entry")
    probe = ("import os; from qa.settings import Settings; "  # imported first: the stdlib is root's here
             "os.setgid(54321); os.setuid(54321); os.environ.pop('HOME', None); "
             "print(repr(Settings().resolved_model_cache()))")
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "QA_MODEL_CACHE")}
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "None"
