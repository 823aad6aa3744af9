"""examples/: the webhook chat bot, driven offline through FastAPI's TestClient over a real index."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).parents[2] / "examples"


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
