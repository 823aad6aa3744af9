"""`qa serve` as a real HTTP server on 127.0.0.1, used through real clients (openai, httpx)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from conftest import SAMPLES, qa_executable, wait_until_up
from qa.answer.llms import free_port

KEY = "test-key-123"


def _serve(index: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    import os

    port = free_port()
    proc = subprocess.Popen([qa_executable(), "serve", "--index", str(index), "--port", str(port), *extra],
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/healthz", proc)
    return proc, url


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory) -> Path:
    from qa.ingest import ingest
    from qa.settings import Settings

    index = tmp_path_factory.mktemp("srv") / "index"
    ingest([str(SAMPLES)], Settings(index=index))
    return index


@pytest.fixture(scope="module")
def server(sample_index):
    proc, url = _serve(sample_index, env={"QA_API_KEY": KEY, "QA_RATE_LIMIT_PER_MINUTE": "100000"})
    yield url
    proc.kill()
    proc.wait()


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY)


def test_openai_client_gets_a_cited_answer(server):
    r = _client(server).chat.completions.create(
        model="qa", messages=[{"role": "user", "content": "When did Varga and Hale last speak?"}],
        extra_body={"as_of": "2025-03-10"},
    )
    content = r.choices[0].message.content
    assert "8 March 2025" in content and "[1]" in content and "Sources:" in content
    cites = r.model_extra["citations"]
    assert cites[0]["quote"] in cites[0]["text"] and cites[0]["published_at"] == "2025-03-08"
    assert [m.id for m in _client(server).models.list().data] == ["qa"]


def test_streaming_and_follow_up_from_message_history(server):
    first = _client(server).chat.completions.create(
        model="qa", messages=[{"role": "user", "content": "When did Varga and Hale last speak?"}],
        extra_body={"as_of": "2025-03-10"},
    ).choices[0].message.content
    stream = _client(server).chat.completions.create(
        model="qa", stream=True, extra_body={"as_of": "2025-03-10"},
        messages=[{"role": "user", "content": "When did Varga and Hale last speak?"},
                  {"role": "assistant", "content": first},
                  {"role": "user", "content": "And before that?"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(chunks) >= 3 and chunks[-1].choices[0].finish_reason == "stop"
    assert "February 2025" in text and "Sources:" in text
    assert chunks[-1].model_extra["qa"]["question"] == "When did Varga and Hale last speak before Saturday 8 March 2025?"


QUESTION = "When did Varga and Hale last speak?"
AS_OF = "2025-03-10"


def _chat(post: Any, turns: list[str], **body: Any) -> dict[str, Any]:
    """One /v1 conversation through ``post``: each user turn is sent with the replies so far (the
    content a client shows and sends back); the last response."""
    messages: list[dict[str, str]] = []
    for text in turns:
        messages.append({"role": "user", "content": text})
        r = post("/v1/chat/completions", json={"model": "qa", "as_of": AS_OF, "messages": messages, **body})
        assert r.status_code == 200, r.text
        out = r.json()
        messages.append({"role": "assistant", "content": out["choices"][0]["message"]["content"]})
    return out


def test_a_conversation_is_rewritten_alike_by_the_python_api_and_v1(server, sample_index):
    """The same turns give the same standalone questions through Assistant.chat and /v1, whose
    earlier replies are known only as their text."""
    from datetime import date

    from qa.assistant import Assistant
    from qa.settings import Settings

    post = lambda path, **kw: httpx.post(f"{server}{path}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60, **kw)  # noqa: E731
    bot = Assistant(Settings(index=sample_index))
    for turns in ([QUESTION, "And before that?", "And before that?"], [QUESTION, "What did they discuss?"]):
        chat = bot.chat()
        asked = [chat.ask(text, as_of=date.fromisoformat(AS_OF))[0] for text in turns]
        assert asked[-1] != turns[-1]  # a rewritten follow-up
        assert _chat(post, turns)["qa"]["question"] == asked[-1], turns
    bot.close()
    assert asked[-1] == "What did Varga and Hale discuss on Saturday 8 March 2025?"


def test_v1_condenses_a_follow_up_with_the_llm_as_qa_chat_does(sample_index):
    """With an LLM backend, /v1 rewrites a follow-up with the condense prompt, given the same
    history as the Python conversation's."""
    import sys
    from datetime import date

    from fastapi.testclient import TestClient

    from qa.assistant import Assistant
    from qa.server import create_app
    from qa.settings import Settings

    sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
    from scripted_llm import Script, ScriptedLLM, prompt_text

    condensed = "When did Varga and Hale talk before 8 March 2025?"  # the rule's names and date, other words
    with ScriptedLLM() as llm:
        llm.script = lambda p: Script([condensed] if "Standalone question:" in p else ["I don't know."])
        settings = Settings(index=sample_index, llm="openai:scripted", llm_base_url=llm.url, llm_max_retries=0)
        bot = Assistant(settings)
        chat = bot.chat(llm="openai:scripted")
        chat.ask(QUESTION, as_of=date.fromisoformat(AS_OF))
        standalone, _ = chat.ask("And before that?", as_of=date.fromisoformat(AS_OF))
        bot.close()
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            out = _chat(client.post, [QUESTION, "And before that?"])
        prompts = [prompt_text(r) for r in llm.requests if "Standalone question:" in prompt_text(r)]
    assert standalone == out["qa"]["question"] == condensed
    assert len(prompts) == 2 and prompts[0] == prompts[1]


def test_a_condensed_question_that_drops_the_date_or_names_is_not_believed(sample_index):
    """The model's rewrite is used only when it keeps what the rule keeps (names, the same days)
    and names nothing the conversation did not: otherwise the rule's rewrite is asked."""
    import sys
    from datetime import date

    from qa.assistant import Assistant
    from qa.settings import Settings

    sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
    from scripted_llm import Script, ScriptedLLM

    rule = "When did Varga and Hale last speak before Saturday 8 March 2025?"
    for condensed in ("When did Varga and Hale speak before March 2025?", "When did they speak before that?",
                      "When did Varga and Hale speak with Putin before 8 March 2025?"):
        with ScriptedLLM() as llm:
            llm.script = lambda p, c=condensed: Script([c] if "Standalone question:" in p else ["I don't know."])
            bot = Assistant(Settings(index=sample_index, llm="openai:scripted", llm_base_url=llm.url, llm_max_retries=0))
            chat = bot.chat()
            chat.ask(QUESTION, as_of=date.fromisoformat(AS_OF))
            assert chat.ask("And before that?", as_of=date.fromisoformat(AS_OF))[0] == rule, condensed
            bot.close()


def test_native_endpoints_keep_the_cli_contracts(server):
    h = {"Authorization": f"Bearer {KEY}"}
    ask = httpx.post(f"{server}/ask", json={"question": "Who won the national cup?", "as_of": "2025-03-10"}, headers=h).json()
    assert set(ask) >= {"question", "answer", "answered", "citations"} and ask["answered"]
    search = httpx.post(f"{server}/search", json={"query": "tram line", "k": 3}, headers=h).json()
    assert search["query"] == "tram line" and len(search["results"]) == 3
    assert set(search["results"][0]) == {"rank", "score", "text", "doc_id", "chunk_id", "title", "url", "source", "published_at", "start", "end"}
    schema = httpx.get(f"{server}/openapi.json", headers=h).json()
    assert "/v1/chat/completions" in schema["paths"]


def test_api_key_validation_and_size_limits(server):
    assert httpx.get(f"{server}/healthz").status_code == 200  # open
    for path in ("/openapi.json", "/docs"):  # the API's description is behind the key too
        assert httpx.get(f"{server}{path}").status_code == 401, path
    assert httpx.get(f"{server}/docs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    r = httpx.post(f"{server}/ask", json={"question": "x"})
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("missing or wrong API key")
    h = {"Authorization": f"Bearer {KEY}"}
    bad = httpx.post(f"{server}/ask", json={"question": ""}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "question"
    junk = httpx.post(f"{server}/v1/chat/completions", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert junk.status_code == 422 and "Traceback" not in junk.text
    huge = httpx.post(f"{server}/ingest", content=b"x" * 6_000_000, headers={**h, "content-type": "application/json"})
    assert huge.status_code == 413
    no_user = httpx.post(f"{server}/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]}, headers=h)
    assert no_user.status_code == 422


def test_rate_limit(tmp_path):
    from qa.ingest import ingest
    from qa.settings import Settings

    index = tmp_path / "ix"
    ingest([str(SAMPLES / "wire-feed.jsonl")], Settings(index=index))
    proc, url = _serve(index, env={"QA_RATE_LIMIT_PER_MINUTE": "5"})
    try:
        codes = [httpx.post(f"{url}/search", json={"query": "storm"}).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    finally:
        proc.kill()


def test_ingest_while_querying_sees_old_or_new_never_half(tmp_path):
    from qa.ingest import ingest
    from qa.settings import Settings

    index = tmp_path / "ix"
    ingest([str(SAMPLES / "wire-feed.jsonl")], Settings(index=index))
    proc, url = _serve(index)
    try:
        articles = [{"id": f"batch-{i}", "title": f"Harbour report {i}",
                     "text": f"The harbour crane number {i} was inspected on Tuesday by crew {i * 7} at dock {i % 5}.",
                     "published_at": "2025-03-05", "source": "Port Wire"} for i in range(40)]
        errors: list[str] = []
        seen: set[int] = set()

        def query_loop() -> None:
            for _ in range(60):
                r = httpx.post(f"{url}/search", json={"query": "harbour crane inspected", "k": 50, "source": "Port Wire"}, timeout=60)
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                docs = {x["doc_id"] for x in r.json()["results"]}
                seen.add(len(docs))

        t = threading.Thread(target=query_loop)
        t.start()
        resp = httpx.post(f"{url}/ingest", json={"articles": articles}, timeout=300)
        t.join()
        assert resp.status_code == 200 and resp.json()["added"] == 40
        assert not errors
        assert seen <= {0, 40}  # each query saw the index before or after the ingest, never in between
        after = httpx.post(f"{url}/search", json={"query": "harbour crane inspected", "k": 50, "source": "Port Wire"}).json()
        assert len({x["doc_id"] for x in after["results"]}) == 40
    finally:
        proc.kill()


def test_ingests_waiting_for_another_writer_never_stall_questions(tmp_path):
    """While another process holds the index's writer lock (a `qa ingest` or a long `qa index
    rebuild` of the same folder), each POST /ingest waits its turn - in the request threads the
    server answers every route with, so 40 of them froze it: /search and even /healthz hung until
    the other writer finished. Questions are answered meanwhile; the ingests land afterwards."""
    import fcntl
    import os
    import time

    from qa.ingest import ingest
    from qa.settings import Settings

    index = tmp_path / "index"
    ingest([str(SAMPLES / "wire-feed.jsonl")], Settings(index=index))
    proc, url = _serve(index)
    lock = os.open(index / ".write.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # the other writer, as qa.index.generations takes it
    results: list[int] = []

    def post(i: int) -> None:
        r = httpx.post(f"{url}/ingest", json={"articles": [{"id": f"wait-{i}", "text": f"Ferry {i} waited at the pier."}]},
                       timeout=300)
        results.append(r.status_code)

    posts = [threading.Thread(target=post, args=(i,)) for i in range(45)]
    try:
        for t in posts:
            t.start()
        time.sleep(2)
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=15).status_code == 200
        search = httpx.post(f"{url}/search", json={"query": "storm power homes", "k": 1}, timeout=15)
        assert search.status_code == 200 and search.json()["results"], search.text
        assert time.monotonic() - started < 15
        assert not results  # all still waiting for the other writer
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
        for t in posts:
            t.join(timeout=300)
        documents = httpx.get(f"{url}/healthz", timeout=30).json().get("documents")
        proc.kill()
        proc.wait()
    assert results == [200] * 45 and documents == 3 + 45, (results, documents)


def test_a_message_that_is_not_unicode_is_a_bad_request(sample_index):
    """/v1/chat/completions with a user message holding a lone surrogate ("caf\\udce9", what bytes
    that are not UTF-8 become) answered 500 "internal error" (the tokenizer's TypeError), and after
    17c823f 503, the server's own problem; /ask and /search already answered 422."""
    from fastapi.testclient import TestClient

    from qa.server import create_app
    from qa.settings import Settings

    with TestClient(create_app(Settings(index=sample_index)), base_url="http://127.0.0.1") as client:
        for stream in ("false", "true"):
            body = '{"model": "qa", "stream": %s, "messages": [{"role": "user", "content": "caf\\udce9 ferry?"}]}' % stream
            r = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, (stream, r.status_code, r.text)
            assert r.json()["error"]["message"] == "the last user message is not valid UTF-8 text (byte 4)"
        ok = client.post("/v1/chat/completions", json={"model": "qa", "messages": [{"role": "user", "content": QUESTION}]})
        assert ok.status_code == 200


def test_a_blank_question_or_query_is_a_bad_request(sample_index):
    """A question or query of nothing but spaces passes the request's length check and is refused
    by the rule every surface shares (`question: empty`, exit 2 in the terminal): what the request
    gets wrong is a 400, never the 503 of the server's own problem, which it had answered."""
    from fastapi.testclient import TestClient

    from qa.server import create_app
    from qa.settings import Settings

    with TestClient(create_app(Settings(index=sample_index)), base_url="http://127.0.0.1") as client:
        for path, body, what in (("/ask", {"question": "   "}, "question"), ("/search", {"query": " \t "}, "query")):
            r = client.post(path, json=body)
            assert r.status_code == 400, (path, r.status_code, r.text)
            assert r.json()["error"]["message"] == f"{what}: empty"
