"""The ONNX export encodes like sentence-transformers, so questions can skip the torch import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.embeddings import canonical_model_name, get_encoder, get_index_encoder, model_location
from qa.onnx_encoder import OnnxEncoder, exportable, paths
from qa.settings import DEFAULT_MODEL

SENTENCES = [
    "When did the central bank last cut interest rates?",
    "Who won the national cup?",
    "storm " * 400,  # longer than the model's 256 tokens: truncated the same way
]


def test_export_matches_sentence_transformers(sample_index):
    onnx_file, tok_file = paths(sample_index, canonical_model_name(DEFAULT_MODEL))
    assert onnx_file.exists() and tok_file.exists(), "ingest exports the model for queries"
    onnx = OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file)
    torch_vecs = get_encoder(DEFAULT_MODEL).encode(SENTENCES)
    onnx_vecs = onnx.encode(SENTENCES, batch_size=2)
    assert onnx_vecs.shape == torch_vecs.shape == (3, 384)
    assert np.all((onnx_vecs * torch_vecs).sum(axis=1) > 0.9999)
    assert isinstance(get_index_encoder(DEFAULT_MODEL, sample_index), OnnxEncoder)


def test_only_mean_pooled_models_are_exported(tmp_path):
    assert exportable(model_location(DEFAULT_MODEL)) == 256
    assert exportable(str(tmp_path)) is None  # no modules.json: keep sentence-transformers


def test_an_export_is_used_only_for_the_weights_it_was_made_from(tmp_path):
    """A model retrained in place at the same path must not be encoded with its old export: the
    export records the weights it came from; stale, it is passed over (torch) and made anew."""
    import os
    import shutil

    from qa.embeddings import Encoder, export_model
    from qa.onnx_encoder import current

    model_dir = tmp_path / "model"
    shutil.copytree(model_location(DEFAULT_MODEL), model_dir)
    name = canonical_model_name(str(model_dir))
    index = tmp_path / "index"
    assert export_model(str(model_dir), index)
    assert current(index, name, str(model_dir)) is not None
    assert isinstance(get_index_encoder(str(model_dir), index), OnnxEncoder)

    config = model_dir / "config.json"
    st = config.stat()
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # "retrained": new weights' time
    assert current(index, name, str(model_dir)) is None
    assert isinstance(get_index_encoder(str(model_dir), index), Encoder)
    assert export_model(str(model_dir), index)  # made anew, for the weights now there
    assert isinstance(get_index_encoder(str(model_dir), index), OnnxEncoder)


def test_an_export_from_an_older_qa_serves_questions_but_not_chunks(tmp_path):
    """An export an older qa made records no weights: questions keep using it (a cold question
    stays torch-free after an upgrade), new chunks do not, and the next ingest's export records them."""
    from qa.embeddings import Encoder, export_model
    from qa.onnx_encoder import current

    index = tmp_path / "index"
    assert export_model(DEFAULT_MODEL, index)
    onnx_file, _ = paths(index, canonical_model_name(DEFAULT_MODEL))
    source = onnx_file.with_name(onnx_file.name + ".source")
    source.unlink()  # as an older qa left it
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index), OnnxEncoder)
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True), Encoder)
    assert export_model(DEFAULT_MODEL, index) and source.exists()
    assert current(index, canonical_model_name(DEFAULT_MODEL), model_location(DEFAULT_MODEL)) is not None
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True), OnnxEncoder)


def test_a_first_ingest_exports_before_it_encodes(tmp_path):
    """A fresh index's first ingest makes the export before embedding and encodes its chunks with
    it (ONNX is ~1.1x torch here; the export costs ~2 s, made at the end before), and says so."""
    from qa.ingest import ingest
    from qa.settings import Settings

    doc = tmp_path / "a.txt"
    doc.write_text("Harbour works finish early\n\nThe harbour reopened on Monday after repairs to its north quay.\n")
    settings = Settings(index=tmp_path / "index")
    report = ingest([str(doc)], settings)
    assert report.added == 1 and report.encoder == "onnx"
    assert paths(tmp_path / "index", canonical_model_name(DEFAULT_MODEL))[0].exists()
    assert ingest([str(doc)], settings).encoder == ""  # nothing embedded


def test_without_onnx_an_ingest_encodes_with_sentence_transformers_and_exports_nothing(tmp_path):
    from qa.ingest import ingest
    from qa.settings import Settings

    doc = tmp_path / "a.txt"
    doc.write_text("Harbour works finish early\n\nThe harbour reopened on Monday after repairs to its north quay.\n")
    report = ingest([str(doc)], Settings(index=tmp_path / "index", onnx=False))
    assert report.encoder == "sentence-transformers"
    assert not paths(tmp_path / "index", canonical_model_name(DEFAULT_MODEL))[0].exists()


def test_a_failed_export_leaves_nothing_and_is_not_retried_and_a_killed_ones_files_go(tmp_path, monkeypatch):
    """An export that fails (weights unreadable) leaves no partial file and is not attempted
    again by the process for the same weights (an ingest tries before its first batch and after
    the run); new weights are tried. The temporary files a killed export left are removed by the
    next one."""
    import shutil

    import qa.onnx_encoder
    from qa.embeddings import export_model

    attempts = []
    real_export = qa.onnx_encoder.export
    monkeypatch.setattr(qa.onnx_encoder, "export", lambda *a, **k: attempts.append(a) or real_export(*a, **k))

    model_dir = tmp_path / "model"
    shutil.copytree(model_location(DEFAULT_MODEL), model_dir)
    for weights in model_dir.glob("*.safetensors"):
        weights.write_bytes(b"not weights")
    index = tmp_path / "index"
    assert exportable(str(model_dir)) is not None
    assert export_model(str(model_dir), index) is False
    onnx_file, _ = paths(index, canonical_model_name(str(model_dir)))
    assert not any(p.name.startswith(".") for p in onnx_file.parent.glob("*")) if onnx_file.parent.exists() else True
    assert export_model(str(model_dir), index) is False and len(attempts) == 1  # not tried again
    for weights in model_dir.glob("*.safetensors"):  # repaired: new weights are tried
        shutil.copyfile(Path(model_location(DEFAULT_MODEL)) / weights.name, weights)
    assert export_model(str(model_dir), index) is True and len(attempts) == 2

    good = tmp_path / "good-index"
    onnx_file, tok_file = paths(good, canonical_model_name(DEFAULT_MODEL))
    onnx_file.parent.mkdir(parents=True)
    killed = [onnx_file.with_name(f".{onnx_file.name}.99999"), tok_file.with_name(f".{tok_file.name}.99999")]
    for f in killed:
        f.write_bytes(b"half")
    assert export_model(DEFAULT_MODEL, good)
    assert not any(f.exists() for f in killed) and onnx_file.exists()


def test_an_export_of_an_older_graph_encodes_until_the_next_writer_makes_it_anew(tmp_path):
    """Exports record their graph format beside them. One of an older format (the traced SDPA
    attention, whose per-layer NaN guards made it 1.6x slower on 2 cores) still encodes questions
    and chunks, its vectors being the same; the next writer's export replaces it, once. The
    weights' record stays what an older qa reads (the fingerprint alone), so an older qa keeps
    using a newer export instead of making its own again."""
    import onnx

    from qa.embeddings import export_model
    from qa.onnx_encoder import EXPORT_FORMAT, current, fingerprint, graph_format

    index = tmp_path / "index"
    model, location = canonical_model_name(DEFAULT_MODEL), model_location(DEFAULT_MODEL)
    assert export_model(DEFAULT_MODEL, index)
    onnx_file, _ = paths(index, model)
    ops = {n.op_type for n in onnx.load(str(onnx_file), load_external_data=False).graph.node}
    assert "IsNaN" not in ops  # eager attention: no guard over every attention matrix
    assert graph_format(onnx_file) == EXPORT_FORMAT
    source = onnx_file.with_name(onnx_file.name + ".source")
    assert source.read_text().strip() == fingerprint(location)  # an older qa's whole rule

    onnx_file.with_name(onnx_file.name + ".graph").unlink()  # as the previous qa left its export
    made = onnx_file.stat().st_mtime_ns
    assert graph_format(onnx_file) == 1
    assert current(index, model, location) is not None  # same weights: encodes questions and chunks
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True), OnnxEncoder)
    assert current(index, model, location, latest=True) is None
    assert export_model(DEFAULT_MODEL, index)  # a writer: made anew
    assert onnx_file.stat().st_mtime_ns != made and graph_format(onnx_file) == EXPORT_FORMAT
    assert current(index, model, location, latest=True) is not None  # and not again


def test_a_failed_upgrade_keeps_the_older_export_and_later_writers_do_not_retry_it(tmp_path, monkeypatch, capsys):
    """Making an older-format export anew can fail (no exporter in a later torch, a read-only
    folder): the older one keeps encoding, the user is told once, and later writers (processes)
    do not load torch to fail again at every ingest."""
    import qa.embeddings
    import qa.onnx_encoder
    from qa.embeddings import export_model

    index = tmp_path / "index"
    assert export_model(DEFAULT_MODEL, index)
    onnx_file, _ = paths(index, canonical_model_name(DEFAULT_MODEL))
    onnx_file.with_name(onnx_file.name + ".graph").unlink()  # the previous qa's export
    attempts = []

    def no_exporter(*args):
        attempts.append(args)
        raise RuntimeError("this torch has no TorchScript exporter")

    monkeypatch.setattr(qa.onnx_encoder, "_export", no_exporter)
    assert export_model(DEFAULT_MODEL, index) is False
    assert "could not be made anew" in capsys.readouterr().err
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True), OnnxEncoder)  # the older one encodes
    qa.embeddings._failed_exports.clear()  # a later process
    assert export_model(DEFAULT_MODEL, index) is True and len(attempts) == 1
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True, export=True), OnnxEncoder)
    assert len(attempts) == 1


def test_a_failed_upgrade_is_tried_again_under_another_torch_and_taken_from_the_machine_cache(tmp_path, monkeypatch):
    """A failed upgrade is recorded for the torch that failed: another torch version tries again
    (its exporter may work). And an export of today's format in the machine-wide cache replaces
    the older one without tracing anything."""
    import json

    import qa.embeddings
    import qa.onnx_encoder
    from qa.embeddings import export_model
    from qa.onnx_encoder import EXPORT_FORMAT, graph_format

    cache = tmp_path / "cache"
    assert export_model(DEFAULT_MODEL, tmp_path / "other-index", cache)  # fills the machine cache
    cache_entries = sorted(p.name for p in cache.iterdir())
    index = tmp_path / "index"
    assert export_model(DEFAULT_MODEL, index, cache)  # copied
    onnx_file, _ = paths(index, canonical_model_name(DEFAULT_MODEL))
    graph = onnx_file.with_name(onnx_file.name + ".graph")
    graph.unlink()  # the previous qa's export
    attempts = []

    def no_exporter(*args):
        attempts.append(args)
        raise RuntimeError("this torch has no TorchScript exporter")

    monkeypatch.setattr(qa.onnx_encoder, "_export", no_exporter)
    assert export_model(DEFAULT_MODEL, index) is False and len(attempts) == 1
    qa.embeddings._failed_exports.clear()  # a later process, same torch: not tried
    assert export_model(DEFAULT_MODEL, index) is True and len(attempts) == 1
    record = json.loads(graph.read_text())
    graph.write_text(json.dumps({**record, "torch": "0.0.0-another"}))  # recorded under another torch
    qa.embeddings._failed_exports.clear()
    assert export_model(DEFAULT_MODEL, index) is False and len(attempts) == 2  # tried again
    assert graph_format(onnx_file) == 1

    qa.embeddings._failed_exports.clear()
    assert export_model(DEFAULT_MODEL, index, cache) is True  # the cache's copy, no trace
    assert len(attempts) == 2 and graph_format(onnx_file) == EXPORT_FORMAT
    assert sorted(p.name for p in cache.iterdir()) == cache_entries
    assert isinstance(get_index_encoder(DEFAULT_MODEL, index, chunks=True), OnnxEncoder)


def test_a_cached_export_this_onnxruntime_cannot_run_is_not_installed(tmp_path):
    """An entry whose bytes match its record but that this onnxruntime cannot load (made in
    another environment, for a model given by path) is not copied in: the export is made here."""
    import hashlib
    import json

    from qa import export_cache
    from qa.embeddings import export_model
    from qa.onnx_encoder import EXPORT_FORMAT, fingerprint, graph_format

    cache = tmp_path / "cache"
    model = canonical_model_name(DEFAULT_MODEL)
    onnx_file, _ = paths(tmp_path / "index", model)
    entry = export_cache.entry(cache, onnx_file.name.removesuffix(".onnx"), fingerprint(model_location(DEFAULT_MODEL)),
                               EXPORT_FORMAT)
    entry.mkdir(parents=True, mode=0o700)
    cache.chmod(0o700)
    graph, tokenizer = b"an opset from the future", (Path(model_location(DEFAULT_MODEL)) / "tokenizer.json").read_bytes()
    (entry / export_cache.ONNX).write_bytes(graph)
    (entry / export_cache.TOKENIZER).write_bytes(tokenizer)
    (entry / export_cache.META).write_text(json.dumps({
        "fingerprint": fingerprint(model_location(DEFAULT_MODEL)), "format": EXPORT_FORMAT,
        "onnx_sha256": hashlib.sha256(graph).hexdigest(), "tokenizer_sha256": hashlib.sha256(tokenizer).hexdigest(),
    }))
    assert export_model(DEFAULT_MODEL, tmp_path / "index", cache)
    assert onnx_file.read_bytes() != graph and graph_format(onnx_file) == EXPORT_FORMAT
    assert isinstance(get_index_encoder(DEFAULT_MODEL, tmp_path / "index", chunks=True), OnnxEncoder)


def test_the_background_encoder_is_the_one_the_first_batch_gets_and_is_made_only_from_a_current_export(tmp_path):
    """The chunk encoder is made on a thread while an ingest reads and plans (its ONNX session is
    ~0.25 s of a small ingest); the first batch gets that one, not a second. Without a current
    export nothing is made there: exporting needs torch, which stays on the writer's own path."""
    import threading

    from qa.embeddings import _query_encoders, export_model, make_chunk_encoder_in_background

    def made_by_thread(index):
        before = set(_query_encoders)
        make_chunk_encoder_in_background(DEFAULT_MODEL, index, "cpu", 32, True)
        for t in threading.enumerate():
            if t.name == "qa-make-encoder":
                t.join()
        return [_query_encoders[k] for k in _query_encoders if k not in before]

    index = tmp_path / "index"
    assert export_model(DEFAULT_MODEL, index)
    made = made_by_thread(index)
    assert len(made) == 1 and isinstance(made[0], OnnxEncoder)
    assert get_index_encoder(DEFAULT_MODEL, index, chunks=True, export=True) is made[0]

    assert made_by_thread(tmp_path / "empty") == []
    assert not (tmp_path / "empty").exists()  # nothing exported on the thread
