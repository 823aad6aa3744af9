"""What `qa serve` lets a hostile client reach (issue 11: findings 5, 10, 11, 12, 14-links), tried
against a real server on 127.0.0.1 with raw HTTP where the attack needs it."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import SAMPLES, run_qa

KEY = "trust-key-456"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHOICES = {"plain": "extractive", "local": "gguf:/srv/operator-only/secret-model.gguf"}

# an article whose metadata and text try to smuggle links and markup into other clients
POISON = {
    "id": "quillby-hangar",
    "url": "javascript:alert(document.domain)",
    "title": "Quillby hangar <img src=x onerror=alert(1)> [click](javascript:alert(2))",
    "source": "Evil <b>Wire</b>",
    "published_at": "2025-03-05",
    "text": "The Quillby zeppelin museum opened its new hangar on Tuesday 4 March 2025 "
            "<img src=x onerror=alert(3)> [more](javascript:alert(4)). "
            "Visitors queued for hours outside the hangar to see the restored airship.",
}
POISON_QUESTION = "When did the Quillby zeppelin museum open its new hangar?"


def _serve(index: Path, env: dict[str, str]) -> tuple[Any, str]:
    from test_server import _serve as serve

    return serve(index, env=env)


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    from qa.ingest import ingest
    from qa.settings import Settings

    path = tmp_path_factory.mktemp("trust") / "index"
    ingest([str(SAMPLES / "wire-feed.jsonl")], Settings(index=path))
    return path


@pytest.fixture(scope="module")
def server(index):
    proc, url = _serve(index, {"QA_API_KEY": KEY, "QA_RATE_LIMIT_PER_MINUTE": "100000",
                               "QA_LLM_CHOICES": json.dumps(CHOICES)})
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def poisoned(server) -> str:
    r = httpx.post(f"{server}/ingest", json={"articles": [POISON]}, headers=AUTH, timeout=120)
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    return server


# ---------------------------------------------------------------- loopback by default


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port``, read from /proc (no traffic)."""
    import ipaddress

    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            host, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port or len(host) != width:
                continue
            raw = bytes.fromhex(host)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # per-word little endian
            found.add(str(ipaddress.ip_address(raw)))
    return found


def test_server_listens_on_loopback_only_by_default(server):
    """`qa serve` without --host: the one listening socket is 127.0.0.1, never 0.0.0.0."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")
    addresses = _listening_addresses(urlsplit(server).port)
    assert addresses == {"127.0.0.1"}, addresses


def test_loopback_server_answers_only_loopback_host_names(server):
    """DNS rebinding: a page on attacker.example that rebinds its name to 127.0.0.1 sends
    `Host: attacker.example`; the server must not answer it (it would read /search, write /ingest)."""
    port = urlsplit(server).port
    for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.nip.io"):
        r = httpx.post(f"{server}/search", json={"query": "storm"}, headers={**AUTH, "Host": host}, timeout=30)
        assert r.status_code == 400 and "Varga" not in r.text, (host, r.status_code)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        r = httpx.post(f"{server}/search", json={"query": "storm"}, headers={**AUTH, "Host": host}, timeout=30)
        assert r.status_code == 200, (host, r.text)


def test_a_wrong_host_header_is_refused_in_the_json_error_shape(server):
    """Every other error of the server is {"error": {"message", "type"}}; a wrong Host header got
    Starlette's plain-text 'Invalid host header', which a client parsing the error shape could not read."""
    port = urlsplit(server).port
    for method, path, host in (("POST", "/search", "attacker.example"), ("GET", "/healthz", f"attacker.example:{port}"),
                               ("GET", "/", "127.0.0.1.nip.io"), ("GET", "/nowhere", "[::2]")):
        r = httpx.request(method, f"{server}{path}", json={"query": "storm"} if method == "POST" else None,
                          headers={**AUTH, "Host": host}, timeout=30)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/json"), (path, host, r.text)
        error = r.json()["error"]
        assert set(error) == {"message", "type"} and "host" in error["message"].lower(), (path, host, error)
    assert httpx.get(f"{server}/healthz", headers={"Host": f"localhost:{port}"}, timeout=30).status_code == 200


# ---------------------------------------------------------------- 5: per-record ingest errors


def test_ingest_reports_a_bad_record_by_line_and_keeps_the_others(server):
    good = [{"id": f"ferry-{i}", "title": f"Ferry timetable {i}", "published_at": "2025-03-06",
             "text": f"The island ferry number {i} changes its timetable on Friday, the harbour office said."}
            for i in range(2)]
    bad = {"title": "No text here", "published_at": "2025-13-45"}
    r = httpx.post(f"{server}/ingest", json={"articles": [good[0], bad, good[1]]}, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 2 and report["failed"] == 1
    assert [(e["path"], e["line"]) for e in report["errors"]] == [("<api>", 2)]
    assert "text" in report["errors"][0]["error"]
    found = httpx.post(f"{server}/search", json={"query": "island ferry timetable", "k": 5}, headers=AUTH).json()
    assert {"ferry-0", "ferry-1"} <= {x["doc_id"] for x in found["results"]}


def test_ingest_reports_wrongly_typed_records_by_line_and_never_reads_a_path(server, tmp_path):
    secret = tmp_path / "operator-notes.txt"
    secret.write_text("Operator notes: the vault code is 7731 and nobody outside should read it.\n")
    good = {"id": "ferry-typed", "title": "Ferry typed", "published_at": "2025-03-06",
            "text": "The island ferry changes its timetable on Friday, the harbour office said."}
    records = [{"id": "typed", "text": 5}, str(secret), good, ["not", "a", "record"]]
    r = httpx.post(f"{server}/ingest", json={"articles": records}, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["failed"] == 3 and report["added"] + report["unchanged"] == 1
    assert [e["line"] for e in report["errors"]] == [1, 2, 4]
    found = httpx.post(f"{server}/search", json={"query": "vault code operator notes", "k": 5}, headers=AUTH, timeout=60)
    assert "7731" not in found.text


def test_python_api_ingest_collects_record_errors(tmp_path):
    from qa import Assistant

    bot = Assistant.open(tmp_path / "index")
    try:
        report = bot.ingest([
            {"id": "a", "title": "Bridge", "text": "The old stone bridge reopened to cyclists on Monday.", "published_at": "2025-02-03"},
            {"id": "b", "text": "A record whose date does not exist.", "published_at": "2025-13-45"},
            {"id": "c", "title": "Library", "text": "The city library extended its opening hours on Sunday."},
            {"title": "no text at all"},
        ])
    finally:
        bot.close()
    # a date that does not exist leaves its article undated (a warning, finding 8); no text fails
    assert report.added == 3 and report.failed == 1
    assert [(e.path, e.line) for e in report.errors] == [("<api>", 4)]
    assert [(w.path, w.line) for w in report.warnings] == [("<api>", 2)]


# ---------------------------------------------------------------- 10: backends belong to the operator


@pytest.mark.parametrize("llm", ["gguf:/etc/passwd", "gguf:/no/such/file.gguf", "openai:gpt-4o", "ollama:llama3",
                                 "openai:http://evil.example/v1"])
def test_ask_may_name_only_a_configured_backend(server, llm):
    r = httpx.post(f"{server}/ask", json={"question": "What happened to the ferries?", "llm": llm}, headers=AUTH)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "\n" not in message and all(name in message for name in ("default", "extractive", "plain", "local"))
    assert "/etc/passwd" not in message and "/no/such" not in message and "secret-model" not in message


def test_existing_and_missing_paths_answer_alike(server):
    """No file-system probe: the answer does not depend on whether the named path exists."""
    answers = [httpx.post(f"{server}/ask", json={"question": "storm", "llm": llm}, headers=AUTH)
               for llm in ("gguf:/etc/passwd", "gguf:/etc/no-such-passwd")]
    assert [a.status_code for a in answers] == [400, 400] and answers[0].text == answers[1].text


def test_a_configured_backend_is_chosen_by_name(server):
    r = httpx.post(f"{server}/ask", json={"question": "How many homes lost power in the storm?", "llm": "plain"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["backend"] == "extractive"
    for model in ("qa", "qa:plain", "plain", "qa:extractive"):
        chat = httpx.post(f"{server}/v1/chat/completions", headers=AUTH, timeout=60,
                          json={"model": model, "messages": [{"role": "user", "content": "How many homes lost power?"}]})
        assert chat.status_code == 200, (model, chat.text)
    stream = httpx.post(f"{server}/v1/chat/completions", headers=AUTH, timeout=60,
                        json={"model": "qa:plain", "stream": True, "messages": [{"role": "user", "content": "Storm?"}]})
    assert stream.status_code == 200 and "[DONE]" in stream.text


@pytest.mark.parametrize("model", ["gguf:/etc/passwd", "qa:gguf:/etc/passwd", "openai:gpt-4o", "qa:nope"])
def test_chat_model_must_be_a_configured_name(server, model):
    for stream in (False, True):
        r = httpx.post(f"{server}/v1/chat/completions", headers=AUTH, timeout=60,
                       json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "Storm?"}]})
        assert r.status_code == 400, (model, stream, r.text)
        assert "plain" in r.json()["error"]["message"]


def test_models_lists_names_never_paths(server):
    r = httpx.get(f"{server}/v1/models", headers=AUTH)
    ids = [m["id"] for m in r.json()["data"]]
    assert ids[0] == "qa" and {"qa:plain", "qa:local"} <= set(ids)
    assert "secret-model" not in r.text and "/srv" not in r.text


# ---------------------------------------------------------------- 11: body limit on bytes read


def _raw(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


def test_chunked_body_over_the_limit_is_refused(server):
    def chunks():
        for _ in range(60):
            yield b"x" * 100_000  # 6 MB in all, no Content-Length

    conn = _raw(server)
    try:
        conn.request("POST", "/ingest", body=chunks(), encode_chunked=True,
                     headers={**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        body = resp.read()
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the server dropped the connection instead of answering 413")
    finally:
        conn.close()
    assert resp.status == 413, body[:200]
    assert json.loads(body)["error"]["type"] == "too_large"


def test_small_chunked_body_still_works(server):
    conn = _raw(server)
    try:
        payload = json.dumps({"query": "storm power", "k": 2}).encode()
        conn.request("POST", "/search", body=iter([payload[:10], payload[10:]]), encode_chunked=True,
                     headers={**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert resp.status == 200 and len(json.loads(resp.read())["results"]) == 2
    finally:
        conn.close()


# ---------------------------------------------------------------- 12: rate limits that cannot be dodged


@pytest.fixture(scope="module")
def limited(index):
    proc, url = _serve(index, {"QA_API_KEY": KEY, "QA_RATE_LIMIT_PER_MINUTE": "5"})
    yield url
    proc.kill()
    proc.wait()


def _status(url: str, path: str, headers: dict[str, str]) -> int:
    return httpx.post(f"{url}{path}", json={"query": "storm", "k": 1}, headers=headers, timeout=60).status_code


def test_forged_forwarded_for_does_not_give_fresh_buckets(limited):
    codes = [_status(limited, "/search", {"X-Forwarded-For": f"10.0.0.{i}", "X-Real-IP": f"10.0.1.{i}"}) for i in range(8)]
    assert set(codes) <= {401, 429} and codes.count(401) <= 5 and codes[-3:] == [429] * 3


def test_failed_auth_never_locks_out_the_right_key(limited):
    for _ in range(12):
        _status(limited, "/search", {"Authorization": "Bearer wrong-key"})
    codes = [_status(limited, "/search", AUTH) for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2


@pytest.mark.slow
def test_forwarded_for_is_trusted_only_from_configured_proxies(index):
    proc, url = _serve(index, {"QA_RATE_LIMIT_PER_MINUTE": "2", "QA_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        rotating = [_status(url, "/search", {"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(4)]
        same = [_status(url, "/search", {"X-Forwarded-For": "10.9.9.9"}) for _ in range(3)]
    finally:
        proc.kill()
        proc.wait()
    assert rotating == [200] * 4 and same == [200, 200, 429]


@pytest.mark.slow
def test_addresses_of_one_ipv6_network_share_a_bucket(index):
    """An IPv6 client holds a /64 (often far more), so counting each address would give it 2^64
    fresh allowances; its addresses count as one network. IPv4 addresses keep their own."""
    proc, url = _serve(index, {"QA_RATE_LIMIT_PER_MINUTE": "2", "QA_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        one_net = [_status(url, "/search", {"X-Forwarded-For": f"2001:db8:1:2::{i:x}"}) for i in range(1, 5)]
        other_net = [_status(url, "/search", {"X-Forwarded-For": "2001:db8:1:3::1"}) for _ in range(1)]
        v4 = [_status(url, "/search", {"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(3)]
    finally:
        proc.kill()
        proc.wait()
    assert one_net == [200, 200, 429, 429] and other_net == [200] and v4 == [200] * 3


def test_rate_limiter_table_is_bounded():
    from qa.server import RateLimiter

    limiter = RateLimiter(per_minute=3, max_clients=100)
    for i in range(10_000):
        assert limiter.allow(f"addr:10.{i // 256}.{i % 256}.1")
    assert len(limiter) <= 100
    assert [limiter.allow("key:k") for _ in range(4)] == [True, True, True, False]


# ---------------------------------------------------------------- 14: only http(s) links, escaped markdown


def test_sources_markdown_carries_no_script_link_or_raw_html(poisoned):
    from markdown_it import MarkdownIt

    r = httpx.post(f"{poisoned}/v1/chat/completions", headers=AUTH, timeout=60, json={
        "model": "qa", "messages": [{"role": "user", "content": POISON_QUESTION}], "as_of": "2025-03-10"})
    content = r.json()["choices"][0]["message"]["content"]
    assert "Sources:" in content and "Quillby" in content.split("Sources:")[1]
    html = MarkdownIt("commonmark", {"html": True, "linkify": True}).render(content.split("Sources:")[1])
    assert "<img" not in html and "<b>" not in html
    assert 'href="javascript' not in html.lower() and "<a " not in html


def _rendered(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": True}).render(markdown)


@pytest.mark.parametrize("stream", [False, True])
def test_chat_answer_text_carries_no_markup_from_the_article(poisoned, stream):
    """The answer quotes the article word for word; its markup reaches an OpenAI client's markdown
    renderer as literal text (the [n] markers stay links to nothing but text)."""
    body = {"model": "qa", "stream": stream, "as_of": "2025-03-10",
            "messages": [{"role": "user", "content": POISON_QUESTION}]}
    r = httpx.post(f"{poisoned}/v1/chat/completions", headers=AUTH, timeout=60, json=body)
    assert r.status_code == 200, r.text
    if stream:
        chunks = [json.loads(line[5:]) for line in r.text.splitlines()
                  if line.startswith("data:") and line[5:].strip() != "[DONE]"]
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if "choices" in c)
    else:
        content = r.json()["choices"][0]["message"]["content"]
    answer = content.split("Sources:")[0]
    assert "Quillby" in answer and "[1]" in answer, content
    html = _rendered(answer)
    assert "<img" not in html and 'href="javascript' not in html.lower() and "<a " not in html, html


def test_web_page_links_only_http_urls(poisoned):
    from test_web import chat_page

    with chat_page(f"{poisoned}/?as_of=2025-03-10&key={KEY}", POISON_QUESTION) as page:
        assert "Quillby hangar" in page.locator(".turn .sources li").first.inner_text()
        hrefs = page.eval_on_selector_all(".sources a", "els => els.map(e => e.getAttribute('href'))")
        assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs


def test_terminal_output_carries_no_hyperlink_escape(tmp_path):
    """`qa ask` / `qa search` print article metadata and text as plain text: an OSC 8 escape in a
    URL, title, source or text never reaches the terminal as a (javascript:) hyperlink."""
    from conftest import run_qa

    osc, end = "\x1b]8;;javascript:alert(1)\x1b\\", "\x1b]8;;\x1b\\"
    feed = tmp_path / "osc.jsonl"
    feed.write_text(json.dumps({
        "id": "osc-hangar", "url": f"javascript:alert(1){osc}", "title": f"{osc}Quillby hangar{end}",
        "source": f"{osc}Wire{end}", "published_at": "2025-03-05",
        "text": f"The Quillby zeppelin museum opened its new hangar on Tuesday 4 March 2025 {osc}click{end}. "
                "Visitors queued for hours outside the hangar.",
    }) + "\n")
    index = tmp_path / "index"
    assert run_qa("ingest", str(feed), index=index).returncode == 0
    for args in (("ask", POISON_QUESTION, "--as-of", "2025-03-10"), ("search", "Quillby zeppelin hangar")):
        res = run_qa(*args, index=index)
        assert res.returncode == 0 and "Quillby hangar" in res.stdout, res.stdout + res.stderr
        assert "\x1b" not in res.stdout and "\x9b" not in res.stdout, repr(res.stdout)


# ---------------------------------------------------------------- a public name in front of a loopback server


def test_a_loopback_server_given_a_public_host_name_needs_a_key_to_ingest(index, tmp_path):
    """Behind a reverse proxy: bound to 127.0.0.1, with its public name in QA_ALLOWED_HOSTS. It is
    reachable from anywhere then, so /ingest (open on a loopback server without a key) needs
    QA_API_KEY like a server bound beyond loopback; /healthz names no path of the server's."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    proc, url = _serve(copy, {"QA_ALLOWED_HOSTS": json.dumps(["qa.example.org", "127.0.0.1"])})
    try:
        r = httpx.post(f"{url}/ingest", json={"articles": [{"id": "x", "title": "X", "text": "Some text about ferries."}]},
                       headers={"Host": "qa.example.org"}, timeout=60)
        assert r.status_code == 403 and "QA_API_KEY" in r.text, r.text
    finally:
        proc.kill()
        proc.wait()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, url = _serve(empty, {})
    try:
        health = httpx.get(f"{url}/healthz", timeout=30).json()
        assert health["status"] == "empty" and str(tmp_path) not in json.dumps(health), health
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- what a failing server tells a client


def test_a_server_error_never_names_the_servers_folders(index, tmp_path):
    """A client is told what failed, never where the server keeps things: a model folder a
    setting names that cannot be loaded (a damaged cross-encoder, spaCy pipeline or embedding
    model) answered every /search, /ask and /ingest with the folder's path and the library's
    words, and a server on a folder with no index yet answered /ask with that folder ("no index at
    /srv/…"), while /healthz says only "no index published yet"."""
    import shutil

    operator = tmp_path / "operator-only"
    damaged = operator / "damaged-model"
    damaged.mkdir(parents=True)
    (damaged / "config.json").write_text("{}")
    served = operator / "index"
    shutil.copytree(index, served)
    fresh = operator / "fresh-index"
    fresh.mkdir()
    ask = ("/ask", {"question": "How many homes lost power in the storm?", "as_of": "2025-03-10"})
    cases = [
        (served, {"QA_RERANKER": str(damaged)}, [("/search", {"query": "storm"}), ask]),
        (served, {"QA_SHORT_ANSWER_PIPELINE": str(damaged)}, [ask]),
        (fresh, {"QA_MODEL": str(damaged)}, [ask, ("/ingest", {"articles": [{"id": "x", "text": "Ferries stopped."}]})]),
    ]
    for folder, env, requests in cases:
        proc, url = _serve(folder, {**env, "QA_API_KEY": KEY})
        try:
            for route, body in requests:
                r = httpx.post(f"{url}{route}", json=body, headers=AUTH, timeout=120)
                message = r.json()["error"]["message"] if r.status_code >= 400 else ""
                assert r.status_code >= 400 and message, (env, route, r.status_code, r.text)
                assert "operator-only" not in r.text and "/tmp" not in r.text, (env, route, r.text)
        finally:
            proc.kill()
            proc.wait()


def test_a_server_error_never_names_its_chroma_server(tmp_path):
    """An index on a Chroma server that does not answer failed /ingest with the server's URL
    ("Chroma server http://10.0.0.5:8000/… is not reachable: [Errno 111] …"): the operator's
    address, told to any client. The client is told that the index's Chroma server failed."""
    from qa.answer.llms import free_port

    chroma = f"http://127.0.0.1:{free_port()}/operator-only-path"
    fresh = tmp_path / "index"
    fresh.mkdir()
    proc, url = _serve(fresh, {"QA_API_KEY": KEY, "QA_CHROMA_URL": chroma, "QA_CHROMA_TIMEOUT": "3"})
    try:
        r = httpx.post(f"{url}/ingest", json={"articles": [{"id": "x", "text": "Ferries stopped."}]}, headers=AUTH, timeout=120)
        assert r.status_code >= 400 and "Chroma server" in r.json()["error"]["message"], r.text
        assert "operator-only-path" not in r.text and "127.0.0.1" not in r.text, r.text
    finally:
        proc.kill()
        proc.wait()


def _what_a_client_is_told(url: str, route: str, body: dict[str, Any]) -> str:
    """The error a client gets for ``route`` (a streamed chat's ``error`` event): its message,
    after checking that the request failed and that the whole answer names no folder of the
    server's ("operator-only", the temporary folders)."""
    r = httpx.post(f"{url}{route}", json=body, headers=AUTH, timeout=120)
    if body.get("stream"):
        errors = [json.loads(line[6:])["error"] for line in r.text.splitlines()
                  if line.startswith("data: {") and '"error"' in line[:20]]
        assert r.status_code == 200 and errors, (route, r.text)
        message = errors[0]["message"]
    else:
        assert r.status_code >= 400, (route, r.status_code, r.text)
        message = r.json()["error"]["message"]
    assert message and "operator-only" not in r.text and "/tmp" not in r.text and "/srv" not in r.text, (route, r.text)
    return message


QUESTION = "How many homes lost power in the storm?"
EVERY_ROUTE = [
    ("/ask", {"question": QUESTION, "as_of": "2025-03-10"}),
    ("/search", {"query": "storm"}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
    ("/v1/chat/completions", {"stream": True, "messages": [{"role": "user", "content": QUESTION}]}),
    ("/ingest", {"articles": [{"id": "ferries", "text": "Ferries stopped in the storm."}]}),
]


def test_a_damaged_index_is_never_named_to_a_client(index, tmp_path):
    """An index folder damaged on the server's disk - its CURRENT pointer naming no generation,
    a Chroma part it lists gone (read by QA_DENSE_SEARCH=hnsw), chunks in a Chroma store beside
    its part list - answered every route with the folder's path and the operator's repair
    instructions ("index /srv/…: CURRENT names 'gen-000009' … write its name into /srv/…/CURRENT").
    The client is told the index is damaged; the terminal keeps the whole message and its exit code."""
    import shutil

    operator = tmp_path / "operator-only"
    pointer, part, stray = (operator / name for name in ("pointer", "part", "stray"))
    for folder in (pointer, part, stray):
        shutil.copytree(index, folder)
    (pointer / "CURRENT").write_text("gen-000009\n")
    gen = (part / "CURRENT").read_text().strip()
    for listed in json.loads((part / gen / "chroma" / "qa-parts.json").read_text())["parts"]:
        shutil.rmtree(part / "chroma-parts" / listed)
    some_part = next(p for p in (stray / "chroma-parts").iterdir() if p.is_dir())
    shutil.copy(some_part / "chroma.sqlite3", stray / gen / "chroma" / "chroma.sqlite3")
    cases = [
        (pointer, {}, EVERY_ROUTE),
        (part, {"QA_DENSE_SEARCH": "hnsw"}, EVERY_ROUTE[:4]),
        (stray, {}, EVERY_ROUTE[4:]),
    ]
    for folder, env, requests in cases:
        proc, url = _serve(folder, {**env, "QA_API_KEY": KEY})
        try:
            for route, body in requests:
                assert "index is damaged" in _what_a_client_is_told(url, route, body), (folder.name, route)
        finally:
            proc.kill()
            proc.wait()
    res = run_qa("ask", QUESTION, index=pointer)
    assert res.returncode == 1 and f"{pointer}/CURRENT" in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr


def test_a_damaged_catalog_is_one_line_and_the_server_still_starts(index, tmp_path):
    """A live generation whose catalog is not a database (a damaged disk, a bad restore) made
    `qa serve` die at startup with a traceback ("sqlite3.DatabaseError: file is not a database")
    and `qa ask` print one. Now it is one line naming the catalog in the terminal (exit 1), and
    the server starts: /healthz says the index cannot be read and a client is told the index
    is damaged, never where."""
    import shutil

    served = tmp_path / "operator-only" / "index"
    shutil.copytree(index, served)
    gen = (served / "CURRENT").read_text().strip()
    (served / gen / "catalog.sqlite").write_bytes(b"not a database, whatever it was " * 64)
    res = run_qa("ask", QUESTION, index=served)
    assert res.returncode == 1 and len(res.stderr.splitlines()) == 1, res.stderr
    assert str(served / gen / "catalog.sqlite") in res.stderr and "Traceback" not in res.stderr, res.stderr
    proc, url = _serve(served, {"QA_API_KEY": KEY})
    try:
        assert httpx.get(f"{url}/healthz", timeout=30).json()["status"] == "error"
        for route, body in EVERY_ROUTE:
            assert "index is damaged" in _what_a_client_is_told(url, route, body), route
    finally:
        proc.kill()
        proc.wait()


def test_an_index_the_servers_settings_do_not_fit_is_never_named_to_a_client(index, tmp_path):
    """A server whose settings do not fit its index - QA_MODEL naming another embedding model (a
    folder of the operator's) than the index was built with, QA_CHROMA_URL given for an index
    that keeps its vectors in its own folder - answered every route with the index folder, the
    model folder and the operator's fix ("index /srv/… was built with embedding model …, not
    '/srv/…/other-model'; … `qa index rebuild --model /srv/…`"). The client is told only that
    the index does not fit; the terminal keeps the whole message and exit 2."""
    import shutil

    from qa.answer.llms import free_port

    operator = tmp_path / "operator-only"
    served = operator / "index"
    shutil.copytree(index, served)
    chroma = f"http://127.0.0.1:{free_port()}/operator-only-path"
    cases = [{"QA_MODEL": str(operator / "other-model")}, {"QA_CHROMA_URL": chroma, "QA_CHROMA_TIMEOUT": "3"}]
    for env in cases:
        proc, url = _serve(served, {**env, "QA_API_KEY": KEY})
        try:
            for route, body in EVERY_ROUTE:
                message = _what_a_client_is_told(url, route, body)
                assert message.startswith("the index ") and "127.0.0.1" not in message, (env, route, message)
        finally:
            proc.kill()
            proc.wait()
        res = run_qa("ask", QUESTION, index=served, env=env)
        assert res.returncode == 2 and str(served) in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr


@pytest.mark.slow
def test_an_index_on_a_chroma_server_is_never_named_to_a_client(tmp_path, chroma_server):
    """The one-writer rules of an index on a Chroma server answered a client with the server's
    folders and the Chroma server's address: POST /ingest to a replica ("index /srv/… is a
    replica of ID on http://10.0.0.5:8000: …"), to a folder holding only the writer's INDEX_ID
    ("the Chroma server http://… already holds index ID …, and /srv/… has none of its
    generations …") and to a stale copy of the writer's folder ("… version 2 of index /srv/…,
    newer than its folder's 1 …"), and every route of a writer's folder served with another
    Chroma server's URL ("index /srv/… lives on the Chroma server http://…; http://… does not
    hold it"). The client is told what is wrong with the index in qa's words."""
    import os
    import shutil
    import subprocess
    import sys

    from conftest import wait_until_up

    from qa.answer.llms import free_port

    operator = tmp_path / "operator-only"
    writer, replica, copy, id_only = (operator / name for name in ("writer", "replica", "copy", "id-only"))
    feed = tmp_path / "feed.jsonl"
    feed.write_text((SAMPLES / "wire-feed.jsonl").read_text())
    remote = ["--chroma-url", chroma_server]
    assert run_qa("ingest", str(feed), *remote, index=writer).returncode == 0
    shutil.copytree(writer, copy)
    id_only.mkdir()
    shutil.copy(writer / "INDEX_ID", id_only / "INDEX_ID")
    assert run_qa("ingest", str(SAMPLES / "norland-westmark-call.md"), index=writer).returncode == 0
    index_id = (writer / "INDEX_ID").read_text().strip()
    assert run_qa("index", "follow", index_id, *remote, index=replica).returncode == 0
    port = free_port()
    other = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(tmp_path / "other-chroma"),
                              "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    ingest = EVERY_ROUTE[4:]
    cases = [
        (replica, {}, ingest, "is a replica"),
        (id_only, {"QA_CHROMA_URL": chroma_server}, ingest, "has none of the generations"),
        (copy, {}, ingest, "is older than"),
        (writer, {"QA_CHROMA_URL": f"http://127.0.0.1:{port}"}, EVERY_ROUTE, "lives on another Chroma server"),
    ]
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", other, timeout=60)
        for folder, env, requests, problem in cases:
            proc, url = _serve(folder, {**env, "QA_API_KEY": KEY})
            try:
                for route, body in requests:
                    message = _what_a_client_is_told(url, route, body)
                    assert problem in message and "127.0.0.1" not in message, (folder.name, route, message)
            finally:
                proc.kill()
                proc.wait()
    finally:
        other.kill()
        other.wait()
    res = run_qa("ingest", str(feed), index=replica)
    assert res.returncode == 2 and str(replica) in res.stderr and chroma_server in res.stderr, res.stderr


def test_a_configured_local_model_file_that_is_missing_is_not_named_to_a_client(server):
    """An operator's backend choice whose gguf file is not there ("local": gguf:/srv/operator-only/
    secret-model.gguf) answered /ask and /v1/chat/completions with the file's path ("gguf:/srv/…:
    no such model file"), while /v1/models and an answer's details never show more than its name.
    The client is told the model file is not installed on the server."""
    requests = [
        ("/ask", {"question": QUESTION, "llm": "local"}),
        ("/v1/chat/completions", {"model": "qa:local", "messages": [{"role": "user", "content": QUESTION}]}),
        ("/v1/chat/completions", {"model": "qa:local", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}),
    ]
    for route, body in requests:
        assert "model file is not installed on the server" in _what_a_client_is_told(server, route, body), route


def test_an_unforeseen_failure_is_internal_to_the_client_and_logged_for_the_operator(index, tmp_path):
    """A failure qa did not foresee (here the index's chroma-parts folder replaced by a file
    while the server runs) answers the client 500 "internal error",
    never its words nor a stack trace - but the server wrote nothing at all to its log, so
    the operator could not learn why /ingest failed. Its log now has the traceback."""
    import os
    import shutil
    import subprocess

    from conftest import qa_executable, wait_until_up

    from qa.answer.llms import free_port

    served = tmp_path / "operator-only" / "index"
    shutil.copytree(index, served)
    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([qa_executable(), "serve", "--index", str(served), "--port", str(port)],
                                env={**os.environ, "QA_API_KEY": KEY}, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", proc)
        shutil.rmtree(served / "chroma-parts")
        (served / "chroma-parts").write_text("")
        r = httpx.post(f"{url}/ingest", json={"articles": [{"id": "ferries", "text": "Ferries stopped."}]}, headers=AUTH, timeout=120)
        assert (r.status_code, r.json()) == (500, {"error": {"message": "internal error", "type": "internal"}}), r.text
    finally:
        proc.kill()
        proc.wait()
    said = log.read_text()
    assert "POST /ingest" in said and "Traceback" in said and "NotADirectoryError" in said, said


def test_a_document_named_by_its_file_is_not_shown_by_its_path(tmp_path):
    """A file ingested without an id or url is named by its absolute path on the server, and
    every /search result and citation (/ask, /v1/chat/completions plain and streamed) gave that
    name to the client as its doc_id ("/srv/operator-only/inbox/museum-east-wing.txt"): where the
    operator keeps the files. A client now sees a name that is the same for the same file and
    says nothing of where it is; the terminal (qa search --json) keeps the path."""
    import shutil

    from qa.ingest import ingest
    from qa.settings import Settings

    inbox = tmp_path / "operator-only" / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(SAMPLES / "museum-east-wing.txt", inbox / "museum-east-wing.txt")
    index = tmp_path / "index"
    ingest([str(inbox)], Settings(index=index))
    question = "When did the Maritime Museum reopen its east wing?"
    proc, url = _serve(index, {"QA_API_KEY": KEY})
    try:
        seen = []
        r = httpx.post(f"{url}/search", json={"query": question, "k": 1}, headers=AUTH, timeout=120)
        seen.append((r.text, [x["doc_id"] for x in r.json()["results"]]))
        r = httpx.post(f"{url}/ask", json={"question": question}, headers=AUTH, timeout=120)
        seen.append((r.text, [c["doc_id"] for c in r.json()["citations"]]))
        chat = {"messages": [{"role": "user", "content": question}]}
        r = httpx.post(f"{url}/v1/chat/completions", json=chat, headers=AUTH, timeout=120)
        seen.append((r.text, [c["doc_id"] for c in r.json()["citations"]]))
        r = httpx.post(f"{url}/v1/chat/completions", json={**chat, "stream": True}, headers=AUTH, timeout=120)
        last = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {") and "citations" in line]
        seen.append((r.text, [c["doc_id"] for c in last[-1]["citations"]]))
    finally:
        proc.kill()
        proc.wait()
    for text, ids in seen:
        assert ids and "operator-only" not in text and str(tmp_path) not in text, text[:500]
    assert len({i for _, ids in seen for i in ids}) == 1, seen
    res = run_qa("search", question, "--json", "--k", "1", index=index)
    assert json.loads(res.stdout)["results"][0]["doc_id"] == str(inbox / "museum-east-wing.txt")


@pytest.mark.parametrize("method, path, status", [("POST", "/v1/embeddings", 404), ("POST", "/v1/completions", 404),
                                                  ("GET", "/ask", 405), ("GET", "/static/no-such.js", 404)])
def test_every_error_body_is_the_servers_json_error(server, method, path, status):
    """An OpenAI client calling a route qa does not have (/v1/embeddings) or the wrong method
    got Starlette's {"detail": "Not Found"}, unlike every other error of the server
    ({"error": {"message", "type"}}, the shape OpenAI clients read)."""
    r = httpx.request(method, f"{server}{path}", headers=AUTH, json={}, timeout=30)
    assert r.status_code == status and set(r.json()) == {"error"}, r.text
    assert r.json()["error"]["message"] and r.json()["error"]["type"] == "http_error", r.text


def test_the_servers_own_problem_is_503_and_only_a_bad_request_is_400(server, index, tmp_path):
    """A problem of the server's configuration or index - a backend whose model file is missing,
    an index built with another embedding model than QA_MODEL - answered 400, an OpenAI client's
    "your request is invalid" (not retried, the user told to fix the request), while README
    promises such configuration errors 503, as an LLM endpoint's are. Only what the request
    itself got wrong (a backend name not configured) is 400."""
    import shutil

    ask = {"question": QUESTION}
    assert httpx.post(f"{server}/ask", json={**ask, "llm": "nope"}, headers=AUTH, timeout=60).status_code == 400
    for body in ({**ask, "llm": "local"},):
        r = httpx.post(f"{server}/ask", json=body, headers=AUTH, timeout=60)
        assert r.status_code == 503, r.text
    served = tmp_path / "index"
    shutil.copytree(index, served)
    proc, url = _serve(served, {"QA_API_KEY": KEY, "QA_MODEL": "sentence-transformers/all-mpnet-base-v2"})
    try:
        for route, body in EVERY_ROUTE[:3] + EVERY_ROUTE[4:]:
            r = httpx.post(f"{url}{route}", json=body, headers=AUTH, timeout=60)
            assert r.status_code == 503 and r.json()["error"]["type"] == "ModelMismatchError", (route, r.text)
    finally:
        proc.kill()
        proc.wait()
