"""examples/: the webhook chat bot, driven offline through FastAPI's TestClient over a real index;
README's example runs over the bundled samples, run for real."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import REPO, run_qa

EXAMPLES = Path(__file__).parents[2] / "examples"


def readme_runs() -> list[tuple[list[str], str]]:
    """(qa's arguments, the output README shows) for every README run over the bundled samples:
    the demo's question (scripts/demo.sh, "The demo prints something like:") and each fenced
    block that starts with `$ qa …`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", readme, re.S | re.M)
    runs = []
    demo = next(line for line in (REPO / "scripts" / "demo.sh").read_text().splitlines() if line.startswith("qa ask "))
    shown = re.search(r"The demo prints something like:\s*```\n(.*?)```", readme, re.S)
    assert shown is not None
    runs.append((shlex.split(demo)[1:], shown.group(1)))
    for block in blocks:
        first, _, output = block.partition("\n")
        if first.startswith("$ qa "):
            runs.append((shlex.split(first[2:])[1:], output))
    return runs


def test_readme_shows_runs_over_the_samples():
    assert len(readme_runs()) >= 3


@pytest.mark.parametrize(("args", "shown"), readme_runs(), ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else "")
def test_readme_runs_print_what_readme_shows(sample_index, args, shown):
    """Every part README shows (between its "…") is printed, in that order, spacing aside."""
    res = run_qa(*args, index=sample_index)
    assert res.returncode in (0, 3), res.stderr
    printed = " ".join(res.stdout.split())
    at = 0
    for part in (" ".join(p.split()) for p in shown.split("…")):
        if part:
            found = printed.find(part, at)
            assert found >= 0, f"README shows {part!r}; qa printed:\n{res.stdout}"
            at = found + len(part)


def _load(name: str, monkeypatch, index: Path):
    monkeypatch.setenv("QA_INDEX", str(index))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: FastAPI resolves its annotations there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_webhook_bot_is_short_and_answers_follow_ups_per_chat(sample_index, monkeypatch, tmp_path):
    import shutil

    source = (EXAMPLES / "webhook_bot.py").read_text()
    assert len(source.splitlines()) < 60
    index = shutil.copytree(sample_index, tmp_path / "index")  # the bot keeps its chats under it
    client = TestClient(_load("webhook_bot", monkeypatch, index).app)

    def say(chat: str, text: str) -> dict:
        r = client.post("/webhook", json={"chat_id": chat, "text": text, "as_of": "2025-03-10"})
        assert r.status_code == 200, r.text
        return r.json()

    first = say("42", "When did Varga and Hale last speak?")
    assert first["text"].startswith("On Saturday 8 March 2025 [1]")
    assert first["sources"][0].startswith("[1] Varga and Hale") and "https://ledger.example/" in first["sources"][0]
    follow = say("42", "And before that?")
    assert follow["asked"] == "When did Varga and Hale last speak before Saturday 8 March 2025?"
    assert "last month" in follow["text"] or "February" in follow["text"]
    other = say("7", "And before that?")  # another chat has no history: asked as is
    assert other["asked"] == "And before that?"
    assert say("42", "/reset")["text"] == "Conversation forgotten."
    assert say("42", "And before that?")["asked"] == "And before that?"
    assert client.post("/webhook", json={"text": "no chat id"}).status_code == 422
    assert sorted(p.name for p in (index / "sessions").glob("*.json")) == ["webhook-42.json", "webhook-7.json"]
