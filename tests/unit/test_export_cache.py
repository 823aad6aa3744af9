"""The machine-wide export cache's bookkeeping (qa.export_cache), on small stand-in files: what it
hands out is exactly what was stored, a damaged entry is never handed out, and it stays small."""

from __future__ import annotations

import json
import os
from pathlib import Path

from qa import export_cache
from qa.settings import Settings


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
    assert not export_cache.fetch(cache, "m", "fp1", 2, out_onnx, out_tok)  # nothing stored yet
    export_cache.store(cache, "m", "fp1", 2, onnx, tok)
    assert export_cache.fetch(cache, "m", "fp1", 2, out_onnx, out_tok)
    assert out_onnx.read_bytes() == onnx.read_bytes() and out_tok.read_text() == tok.read_text()
    for other in (("m", "fp2", 2), ("m", "fp1", 1), ("n", "fp1", 2)):  # other weights, format, model
        assert not export_cache.fetch(cache, *other, tmp_path / "x.onnx", tmp_path / "x.tok")
        assert not (tmp_path / "x.onnx").exists()
    assert [p.name for p in cache.iterdir()] == ["m-fp1-f2"]  # no temporary folder left


def test_a_damaged_entry_is_never_handed_out_and_is_removed(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"graph" * 1000)
    out_onnx, out_tok = tmp_path / "out.onnx", tmp_path / "out.tok"
    for damage in ("truncate", "flip", "record", "missing"):
        export_cache.store(cache, "m", "fp1", 2, onnx, tok)
        entry = export_cache.entry(cache, "m", "fp1", 2)
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
        assert not export_cache.fetch(cache, "m", "fp1", 2, out_onnx, out_tok), damage
        assert not out_onnx.exists() and not out_tok.exists(), damage  # nothing half-copied left
        assert not entry.exists(), damage  # so the next export is stored in its place


def test_a_second_store_of_the_same_export_changes_nothing(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"first")
    export_cache.store(cache, "m", "fp1", 2, onnx, tok)
    onnx2, tok2 = _export(tmp_path / "index-b", b"second")
    export_cache.store(cache, "m", "fp1", 2, onnx2, tok2)
    out = tmp_path / "out.onnx"
    assert export_cache.fetch(cache, "m", "fp1", 2, out, tmp_path / "out.tok") and out.read_bytes() == b"first"


def test_the_cache_keeps_the_most_recently_used_entries_of_a_model_and_clears_killed_stores(tmp_path):
    cache = tmp_path / "cache"
    onnx, tok = _export(tmp_path / "index-a", b"g")
    export_cache.store(cache, "other-model", "fp9", 2, onnx, tok)
    for i, fp in enumerate(("fp1", "fp2")):
        export_cache.store(cache, "m", fp, 2, onnx, tok)
        os.utime(export_cache.entry(cache, "m", fp, 2) / export_cache.META, (1000 + i, 1000 + i))
    assert export_cache.fetch(cache, "m", "fp1", 2, tmp_path / "o", tmp_path / "t")  # used: newest now
    killed = cache / ".m-fp4-f2.abc"
    killed.mkdir()
    os.utime(killed, (1, 1))  # a store killed long ago
    export_cache.store(cache, "m", "fp3", 2, onnx, tok)
    names = sorted(p.name for p in cache.iterdir())
    assert names == ["m-fp1-f2", "m-fp3-f2", "other-model-fp9-f2"], names


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path):
    onnx, tok = _export(tmp_path / "index-a", b"g")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    export_cache.store(blocker / "cache", "m", "fp1", 2, onnx, tok)  # best effort: nothing raised
    assert not export_cache.fetch(blocker / "cache", "m", "fp1", 2, tmp_path / "o", tmp_path / "t")


def test_the_cache_setting_defaults_to_the_users_cache_folder_and_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_MODEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().resolved_model_cache() == tmp_path / "xdg" / "qa" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Settings().resolved_model_cache() == Path("~/.cache/qa/models").expanduser()
    monkeypatch.setenv("QA_MODEL_CACHE", "")
    assert Settings().resolved_model_cache() is None
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "mine"))
    assert Settings().resolved_model_cache() == tmp_path / "mine"
    assert json.loads(Settings().model_dump_json())["model_cache"] == str(tmp_path / "mine")
