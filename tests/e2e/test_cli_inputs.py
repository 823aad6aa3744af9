"""Issue 11, findings 4, 7, 8, 13, 14: hostile and careless inputs through the real `qa` CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from conftest import SAMPLES, qa_executable, run_json, run_qa

LONG_ID = "x" * 5000

# a small alias bomb: 6 levels of 10 references (a real one is 435 bytes and expands to gigabytes)
ALIAS_BOMB = "---\n" + "\n".join(
    ["a0: &a0 [\"lol lol lol lol\"]"]
    + [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 7)]
) + "\ntitle: *a6\n---\nThe council met on Monday to discuss the harbour budget and approved it.\n"

FEED_LINES = [
    json.dumps({"id": "f1", "text": "The harbour bridge reopened on Friday after two months of repairs.", "date": "2025-03-07"}),
    '{"id": "f2", "text": "The tram depot was flooded by the storm and trams stopped running.", "published_at": 1e400}',
    json.dumps({"id": "f3", "text": "The ferry union called a strike over pay and night shifts.", "authors": 5}),
    json.dumps({"id": "f4", "text": "The museum of maritime history reopened its west wing.", "date": "2025-03-05"}),
    json.dumps({"id": "f5", "text": "A wildfire near the valley forced farmers to move their herds.", "published_at": "yesterday"}),
    json.dumps({"id": "f6", "text": "The railway company reported a record profit for the winter.", "date": "12"}),
    json.dumps({"id": "f7", "text": "The mayor opened the new market hall with a brass band.", "url": "javascript:alert(1)"}),
    json.dumps({"text": "The airport added night flights to the northern islands.", "url": "ftp://files.example/airport"}),
    json.dumps({"id": LONG_ID, "text": "The summit on border tariffs ended without a treaty."}),
    json.dumps({"id": "f10", "title": "T" * 5000, "text": "The hospital opened a new wing for children and families."}),
]
EVIL_TITLE = json.dumps({"id": "f11", "title": "Evil \x1b[2J\x1b]8;;https://evil.example\x07title\u202e",
                         "source": "S\x1b[31m", "text": "The lighthouse keeper retired after forty years on the rocky island."})
EVIL_NAME = "evil\nfailed: forged.docx"
# a page whose only date is an ambiguous one (3 April or 4 March?) and a copyright year
AMBIGUOUS_PAGE = (
    '<html><head><title>Lock keepers ask for a new pay scale</title>'
    '<meta property="article:published_time" content="03/04/2025"></head><body><article>'
    + "<p>The lock keepers on the northern canal asked the waterways board for a new pay scale, "
      "saying that night shifts on the upper locks had doubled since the autumn.</p>" * 4
    + "</article><footer>Copyright 2019 Canal Courier</footer></body></html>"
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile") / "inbox"
    d.mkdir()
    (d / "good.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    (d / "feed.jsonl").write_text("\n".join(FEED_LINES) + "\n")
    (d / "evil-title.jsonl").write_text(EVIL_TITLE + "\n")
    (d / "bomb.md").write_text(ALIAS_BOMB)
    (d / "dated.md").write_text("---\ntitle: Festival\ndate: now\n---\nThe summer festival sold out its tickets in one hour.\n")
    (d / "lock-keepers.html").write_text(AMBIGUOUS_PAGE)
    (d / EVIL_NAME).write_bytes(b"PK\x03\x04")
    index = d.parent / "ix"
    res = run_qa("ingest", str(d), "--json", index=index, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr
    docs = run_json("search", "harbour ferry tram strike museum wildfire railway market airport hospital summit festival lighthouse"
                    " lock keepers",
                    "--k", "50", index=index)
    by_id = {}
    for r in docs["results"]:
        by_id.setdefault(r["doc_id"], r)
    return {"dir": d, "index": index, "res": res, "out": json.loads(res.stdout), "docs": by_id}


def _errors(out):
    return {(Path(e["path"]).name, e["line"]): e["error"] for e in out["errors"]}


def _warnings(out):
    return {(Path(w["path"]).name, w["line"]): w["warning"] for w in out.get("warnings", [])}


def test_one_bad_record_never_drops_the_rest_of_its_file(hostile):
    """Finding 4: `1e400` (OverflowError) or `"authors": 5` (TypeError) cost nothing but a line."""
    docs = hostile["docs"]
    for doc_id in ("f1", "f2", "f3", "f4", "f5", "f6", "f7", "f10", "f11"):
        assert doc_id in docs, f"{doc_id} was not indexed: {hostile['out']}"
    errors = _errors(hostile["out"])
    assert "'id'" in errors[("feed.jsonl", 9)]  # the over-long identity is refused, by line
    assert not [k for k in errors if k[0] == "feed.jsonl" and k[1] != 9]
    assert hostile["res"].returncode == 1  # some input failed


def test_undated_metadata_is_a_warning_not_today_or_1900(hostile):
    """Finding 8: "1e400", "yesterday", "12", "now" leave the article undated, with a warning."""
    docs, warnings = hostile["docs"], _warnings(hostile["out"])
    assert docs["f1"]["published_at"] == "2025-03-07" and docs["f4"]["published_at"] == "2025-03-05"
    for doc_id, line in (("f2", 2), ("f5", 5), ("f6", 6)):
        assert docs[doc_id]["published_at"] is None, docs[doc_id]
        assert "published_at" in warnings[("feed.jsonl", line)] or "date" in warnings[("feed.jsonl", line)]
    festival = next(r for r in docs.values() if r["title"] == "Festival")
    assert festival["published_at"] is None and ("dated.md", None) in warnings
    today = date.today().isoformat()
    assert all(r["published_at"] not in (today,) and not str(r["published_at"]).startswith("1900") for r in docs.values())
    stderr = hostile["res"].stderr.splitlines()
    feed = str(hostile["dir"] / "feed.jsonl")
    assert any(ln.startswith(f"warning: {feed}:5: ") for ln in stderr), stderr


def test_an_html_date_that_is_not_a_day_is_a_warning_not_a_guess(hostile):
    """An HTML page's ambiguous "03/04/2025" was read as 3 April 2025 without a word (and a page
    with no date metadata took 1 January of its copyright year): now the page is undated and the
    report names the file and the field, as for JSONL."""
    page = next(r for r in hostile["docs"].values() if r["title"] == "Lock keepers ask for a new pay scale")
    assert page["published_at"] is None
    warning = _warnings(hostile["out"])[("lock-keepers.html", None)]
    assert "'article:published_time'" in warning and "ambiguous" in warning
    path = str(hostile["dir"] / "lock-keepers.html")
    assert any(ln.startswith(f"warning: {path}: ") and "article:published_time" in ln
               for ln in hostile["res"].stderr.splitlines()), hostile["res"].stderr


def test_metadata_is_bounded_and_links_are_http_only(hostile):
    """Finding 13: alias bombs are refused, fields are capped, non-http(s) URLs are not kept."""
    errors, warnings, docs = _errors(hostile["out"]), _warnings(hostile["out"]), hostile["docs"]
    assert "alias" in errors[("bomb.md", None)].lower()
    assert all(len(r["title"]) <= 1000 for r in docs.values())
    assert docs["f10"]["title"].startswith("TTT") and "title" in warnings[("feed.jsonl", 10)]
    assert docs["f7"]["url"] == "" and "url" in warnings[("feed.jsonl", 7)]
    assert docs["ftp://files.example/airport"]["url"] == ""  # kept as its identity, never as a link
    assert not any(LONG_ID[:100] in doc_id for doc_id in docs)


def test_control_characters_in_file_names_cannot_forge_report_lines(hostile):
    """Finding 14: a newline in a file name is printed escaped, on the problem's own line."""
    lines = hostile["res"].stderr.splitlines()
    assert all(ln.startswith(("failed: ", "skipped: ", "warning: ")) for ln in lines), lines
    assert not any(ln.startswith("failed: forged") for ln in lines)
    assert any("evil\\nfailed: forged.docx" in ln and ln.startswith("skipped: ") for ln in lines), lines
    out = hostile["out"]
    assert len(lines) == len(out["errors"]) + len(out["warnings"])
    assert any(Path(e["path"]).name == EVIL_NAME for e in out["errors"])  # JSON keeps the real name


def test_terminal_output_never_carries_control_characters(hostile):
    """Finding 14: titles, sources and ids from articles are printed escaped, never as terminal
    control sequences (clear screen, hyperlinks, colours, bidi overrides)."""
    res = run_qa("search", "lighthouse keeper retired", "--k", "3", index=hostile["index"])
    assert res.returncode == 0
    assert "Evil" in res.stdout and "\x1b" not in res.stdout and "\u202e" not in res.stdout and "\x07" not in res.stdout


@pytest.mark.parametrize(
    "args, flag",
    [
        (("search", "x", "--as-of", "March"), "--as-of"),
        (("search", "x", "--as-of", "15"), "--as-of"),
        (("ask", "x", "--as-of", "15"), "--as-of"),
        (("ask", "x", "--since", "2025-3-8"), "--since"),
        (("search", "x", "--until", "yesterday"), "--until"),
        (("chat", "--as-of", "March"), "--as-of"),
        (("ingest", "nothing.txt", "--published-at", "yesterday"), "--published-at"),
        (("ingest", "nothing.txt", "--published-at", "2025-03"), "--published-at"),  # needs a full day
    ],
)
def test_date_flags_take_iso_dates_only(tmp_path, args, flag):
    """Finding 7: anything but an ISO date exits 2 with one line naming the flag."""
    res = run_qa(*args, index=tmp_path / "ix")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.count("\n") == 1 and flag in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "ix").exists()


def test_month_and_year_flags_are_ranges(hostile):
    ix = hostile["index"]
    march = run_json("search", "harbour bridge", "--since", "2025-03", "--until", "2025-03", "--k", "50", index=ix)
    assert "f1" in {r["doc_id"] for r in march["results"]}
    assert all("2025-03-01" <= r["published_at"] <= "2025-03-31" for r in march["results"])
    feb = run_json("search", "harbour bridge", "--until", "2025-02", "--k", "50", index=ix)
    assert "f1" not in {r["doc_id"] for r in feb["results"]}
    year = run_json("search", "harbour bridge", "--since", "2025", "--as-of", "2025-03", "--k", "50", index=ix)
    assert "f1" in {r["doc_id"] for r in year["results"]}


def test_http_date_fields_refuse_junk_with_422(hostile):
    """The HTTP API's date fields are pydantic dates: junk is a 422, never a guess."""
    import os
    import subprocess

    import httpx

    from conftest import qa_executable, wait_until_up
    from qa.answer.llms import free_port

    port = free_port()
    proc = subprocess.Popen([qa_executable(), "serve", "--index", str(hostile["index"]), "--port", str(port)],
                            env={**os.environ, "QA_API_KEY": "k", "QA_RATE_LIMIT_PER_MINUTE": "100000"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/healthz", proc)
        h = {"Authorization": "Bearer k"}
        for field in ("as_of", "since", "until"):
            for junk in ("March", "15", "yesterday", "2025-13-45", 12):
                r = httpx.post(f"{url}/search", json={"query": "harbour", field: junk}, headers=h)
                assert r.status_code == 422, (field, junk, r.text)
        ok = httpx.post(f"{url}/search", json={"query": "harbour", "as_of": "2025-03-10"}, headers=h)
        assert ok.status_code == 200
        # a since after the until holds no day: a bad request, as on the terminal, not an empty answer
        for route, body in (("/search", {"query": "harbour"}), ("/ask", {"question": "harbour?"})):
            r = httpx.post(f"{url}{route}", json={**body, "since": "2025-03-05", "until": "2025-03-01"}, headers=h)
            assert r.status_code == 422 and "no day is in that range" in r.text, (route, r.status_code, r.text)
    finally:
        proc.kill()
        proc.wait()


def test_dates_at_the_ends_of_the_calendar_cost_nothing(tmp_path):
    """A record dated 9999-12-30 that says "next week" once killed the whole run (OverflowError
    while resolving its dates); questions as of year 1 or 9999 printed tracebacks."""
    far = tmp_path / "far.jsonl"
    far.write_text("\n".join(json.dumps(r) for r in [
        {"id": "far-1", "title": "Far future", "published_at": "9999-12-30",
         "text": "Delegates from Norland and Westmark will meet again next week to finish the river treaty."},
        {"id": "far-2", "title": "Year one", "published_at": "0001-01-02",
         "text": "The harbour council met last month and will meet again next year, officials said."},
    ]) + "\n")
    index = tmp_path / "index"
    res = run_qa("ingest", str(SAMPLES), str(far), "--json", index=index)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["failed"] == 0 and report["added"] >= 8
    assert {(w["line"], "plausible" in w["warning"]) for w in report["warnings"] if w["path"].endswith("far.jsonl")} \
        == {(1, True), (2, True)}
    for as_of in ("9999-12-31", "0001-01-01"):
        for question in ("What happened next week?", "What happened last month?"):
            res = run_qa("ask", question, "--as-of", as_of, index=index)
            assert res.returncode in (0, 3) and "Traceback" not in res.stderr, res.stderr


def test_a_gpu_device_this_machine_lacks_is_a_one_line_usage_error(tmp_path):
    """QA_DEVICE=cuda without a usable GPU names the setting, not the model; nothing is published."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    article = tmp_path / "a.md"
    article.write_text("---\ntitle: Ferry line sold\npublished_at: 2025-03-01\n---\n\nBlue Anchor Lines bought the ferry line.\n")
    index = tmp_path / "index"
    res = run_qa("ingest", str(article), index=index, env={"QA_DEVICE": "cuda"})
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "QA_DEVICE" in lines[0] and "cuda" in lines[0]
    assert not (index / "CURRENT").exists()


# ---------------------------------------------------------------- new-user review: file reading


def test_a_file_name_or_a_record_that_is_not_valid_unicode_costs_only_itself(tmp_path):
    """A file whose name is not UTF-8 (bytes ``caf\\xe9.txt``) and a JSON record holding a lone
    surrogate (``"\\ud800"``) once crashed the whole ingest (UnicodeEncodeError hashing them) and
    nothing else in the folder was ingested. Each is one failed line naming it (its name's
    undecodable byte shown as ``\\xe9``), in the terminal and in ``--json``, and the rest is read."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    with open(os.fsencode(inbox) + b"/caf\xe9.txt", "wb") as f:
        f.write(b"The cafe on the harbour reopened on Friday after two months of repairs.\n")
    (inbox / "feed.jsonl").write_text(
        '{"id": "bad", "text": "The tram depot \\ud800 was flooded by the storm."}\n'
        + json.dumps({"id": "fine", "text": "The museum of maritime history reopened its west wing."}) + "\n"
    )
    res = run_qa("ingest", str(inbox), "--json", index=tmp_path / "ix")
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 1, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert (out["added"], out["failed"], out["documents"]) == (2, 2, 2), out
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and all(ln.startswith("failed: ") for ln in lines), lines
    assert any("caf\\xe9.txt" in ln and "file name is not valid UTF-8" in ln for ln in lines), lines
    assert any("feed.jsonl:1:" in ln and "'text'" in ln for ln in lines), lines
    assert {Path(e["path"]).name for e in out["errors"]} == {"caf\\xe9.txt", "feed.jsonl"}


def _run_unprivileged(*args: str, index: Path) -> subprocess.CompletedProcess[str]:
    """`qa` as a user that file permissions bind: root bypasses them (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH), so as root it runs without those two capabilities (setpriv); it stays
    the owner of the index and of everything else it made."""
    if os.geteuid() != 0:
        return run_qa(*args, index=index)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", qa_executable(), *args, "--index", str(index)]
    env = {k: v for k, v in os.environ.items() if k != "QA_INDEX"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def test_a_folder_that_cannot_be_entered_is_a_failed_input_and_prunes_nothing(tmp_path):
    """A file under a folder that cannot be entered (chmod 000) printed a PermissionError
    traceback; that folder given, or met in a walk, was passed over in silence (0 added, exit 0);
    and `--prune` took its stories for gone and removed them. Now it is one failed line naming
    the folder ("permission denied", exit 1), the other inputs are ingested, and nothing recorded
    below it is pruned."""
    inbox, other = tmp_path / "inbox", tmp_path / "other"
    (inbox / "locked" / "deeper").mkdir(parents=True)
    other.mkdir()
    (inbox / "good.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    (inbox / "locked" / "cafe.txt").write_text("The cafe on the harbour reopened on Friday after two months of repairs.\n")
    (inbox / "locked" / "deeper" / "tram.txt").write_text("The tram depot was flooded by the storm and trams stopped running.\n")
    (other / "museum.txt").write_text("The museum of maritime history reopened its west wing on Sunday.\n")
    ix = tmp_path / "ix"
    assert run_json("ingest", str(inbox), index=ix)["documents"] == 3
    locked = inbox / "locked"
    locked.chmod(0)
    try:
        probe = _run_unprivileged("index", "stats", index=ix)
        assert probe.returncode == 0, probe.stderr
        one = _run_unprivileged("ingest", str(locked / "cafe.txt"), index=ix)
        assert one.returncode == 1 and "Traceback" not in one.stderr, one.stderr
        assert one.stderr.splitlines() == [f"failed: {locked / 'cafe.txt'}: permission denied"]

        both = _run_unprivileged("ingest", str(locked), str(other), "--json", index=ix)
        assert both.returncode == 1, (both.stdout, both.stderr)
        out = json.loads(both.stdout)
        assert (out["added"], out["failed"]) == (1, 1), out
        assert [(e["path"], e["error"]) for e in out["errors"]] == [(str(locked), "permission denied")]

        pruned = _run_unprivileged("ingest", str(inbox), "--prune", "--json", index=ix)
        assert pruned.returncode == 1, (pruned.stdout, pruned.stderr)
        out = json.loads(pruned.stdout)
        assert (out["removed"], out["failed"], out["documents"]) == (0, 1, 4), out
        assert pruned.stderr.splitlines() == [f"failed: {locked}: permission denied"]
    finally:
        locked.chmod(0o755)
    titles = {r["title"] for r in run_json("index", "ls", index=ix)["documents"]}
    assert {"Cafe", "Tram"} <= titles, titles


def test_a_symlinked_folder_is_read_once_and_a_link_loop_ends(tmp_path):
    """A symlinked folder inside an input folder was passed over in silence (os.walk does not
    follow links). Now it is read like any folder, each real folder once: a second link to it,
    or a link back up (a loop), is one skipped line and the walk ends; what is read through a link
    is recorded under its real path, and `--prune` of the outer folder covers it."""
    inbox, wire = tmp_path / "inbox", tmp_path / "elsewhere" / "wire"
    inbox.mkdir()
    wire.mkdir(parents=True)
    (inbox / "good.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    story = wire / "story.txt"
    story.write_text("The tram depot was flooded by the storm and trams stopped running.\n")
    (inbox / "wire").symlink_to(wire, target_is_directory=True)
    (inbox / "wire-again").symlink_to(wire, target_is_directory=True)
    (inbox / "loop").symlink_to(inbox, target_is_directory=True)
    (wire / "back").symlink_to(inbox, target_is_directory=True)
    ix = tmp_path / "ix"
    res = run_qa("ingest", str(inbox), "--json", index=ix, timeout=120)
    assert res.returncode == 0, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert (out["added"], out["failed"], out["documents"]) == (2, 0, 2), out
    skipped = {Path(e["path"]).name for e in out["errors"]}
    assert skipped == {"wire-again", "loop", "back"} and out["skipped"] == 3, out
    assert all("already read" in ln for ln in res.stderr.splitlines()), res.stderr
    paths = {d["path"] for d in run_json("index", "ls", index=ix)["documents"]}
    assert str(story.resolve()) in paths, paths

    story.unlink()
    pruned = run_json("ingest", str(inbox), "--prune", index=ix)
    assert (pruned["removed"], pruned["documents"]) == (1, 1), pruned


def test_a_recursive_glob_over_link_loops_ends_and_reads_each_file_once(tmp_path):
    """`qa ingest 'inbox/**/*.txt'` over folders linking back up hung: Python's glob follows every
    link under `**`, so two loop links make its walk grow without end. A `**` pattern is matched
    on the folder walk (each real folder once, loops skipped), as a folder input is read."""
    inbox = tmp_path / "inbox"
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / "top.txt").write_text("The ferry to the islands resumed service on Monday after the storm passed.\n")
    (inbox / "a" / "b" / "deep.txt").write_text("The tram depot was flooded by the storm and trams stopped running.\n")
    (inbox / "a" / "b" / "notes.md").write_text("# Notes\n\nThe harbour office reopened on Tuesday.\n")
    (inbox / "a" / "b" / "up").symlink_to(inbox / "a", target_is_directory=True)
    (inbox / "a" / "b" / "top").symlink_to(inbox, target_is_directory=True)
    res = run_qa("ingest", str(inbox / "**" / "*.txt"), "--json", index=tmp_path / "ix", timeout=60)
    assert res.returncode == 0, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert (out["added"], out["failed"], out["documents"]) == (2, 0, 2), out
    paths = {Path(d["path"]).name for d in run_json("index", "ls", index=tmp_path / "ix")["documents"]}
    assert paths == {"top.txt", "deep.txt"}


@pytest.mark.parametrize("io_encoding", ["", "utf-8:strict"], ids=["default", "strict-stdin"])
def test_bytes_that_are_not_utf8_on_stdin_are_reported_as_in_a_file(tmp_path, io_encoding):
    """`printf '\\xff\\xfe{"text":1}\\n' | qa ingest -` said "malformed JSON", a Latin-1 line further
    on crashed the run (or, with a strict stdin, cost every line after it), while the same bytes
    in a .jsonl file are "not valid UTF-8 text" on their own lines. Stdin is now read as the file
    is: the same messages and lines, named `-`, and the good lines are ingested."""
    feed = (b'\xff\xfe{"text": 1}\n'
            + json.dumps({"id": "ok", "text": "The ferry resumed service on Monday after the storm passed."}).encode() + b"\n"
            + b'{"id": "latin", "text": "The caf\xe9 on the quay reopened."}\n'
            + json.dumps({"id": "ok2", "text": "The museum of maritime history reopened its west wing."}).encode() + b"\n")
    (tmp_path / "feed.jsonl").write_bytes(feed)
    from_file = run_json("ingest", str(tmp_path / "feed.jsonl"), index=tmp_path / "ix-file", ok=(1,))
    env = {k: v for k, v in os.environ.items() if k != "QA_INDEX"}
    if io_encoding:
        env["PYTHONIOENCODING"] = io_encoding
    res = subprocess.run([qa_executable(), "ingest", "-", "--json", "--index", str(tmp_path / "ix-stdin")],
                         input=feed, capture_output=True, timeout=300, env=env)
    assert res.returncode == 1 and b"Traceback" not in res.stderr, res.stderr
    from_stdin = json.loads(res.stdout)
    assert (from_stdin["added"], from_stdin["failed"]) == (from_file["added"], from_file["failed"]) == (2, 2)
    assert [(e["line"], e["error"]) for e in from_stdin["errors"]] == [(e["line"], e["error"]) for e in from_file["errors"]]
    assert {e["path"] for e in from_stdin["errors"]} == {"-"}
    assert all("not valid UTF-8 text" in e["error"] for e in from_stdin["errors"]), from_stdin["errors"]


@pytest.mark.parametrize("command", ["search", "ask"])
def test_a_since_after_the_until_is_a_usage_error_not_an_empty_answer(hostile, command):
    """`--since 2025-03-05 --until 2025-03-01` holds no day: it was searched and answered
    'results: []' (exit 0) or 'I could not find an answer' (exit 3), as if nothing was indexed."""
    res = run_qa(command, "harbour bridge", "--since", "2025-03-05", "--until", "2025-03-01", "--json", index=hostile["index"])
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == "" and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "--since 2025-03-05" in res.stderr and "--until 2025-03-01" in res.stderr
    # a month as both ends is its own range, never refused
    assert run_qa(command, "harbour bridge", "--since", "2025-03", "--until", "2025-03", index=hostile["index"]).returncode in (0, 3)


def test_a_question_that_is_not_utf8_is_one_line_and_exit_2(hostile):
    """A question holding bytes that are not UTF-8 (a terminal in Latin-1: 'caf\\xe9') was a
    TypeError traceback from the tokenizer in qa ask, qa search and qa ask -, and ended qa chat."""
    ix = str(hostile["index"])
    for args, stdin in ((["ask", "caf\udce9 ferry?"], None), (["search", "caf\udce9 ferry"], None),
                        (["ask", "-"], b"caf\xe9 ferry?\n")):
        res = subprocess.run([qa_executable(), *args, "--index", ix, "--json"], input=stdin, capture_output=True, timeout=300)
        err = res.stderr.decode("utf-8", "replace")
        assert res.returncode == 2, (args, res.returncode, err[-800:])
        assert "Traceback" not in err and err.count("\n") == 1 and "not valid UTF-8 text (byte 4)" in err
        assert res.stdout == b""
    chat = subprocess.run([qa_executable(), "chat", "--index", ix], input=b"caf\xe9 ferry?\nWhen did the ferry resume?\n",
                          capture_output=True, timeout=300)
    assert chat.returncode == 0 and b"Traceback" not in chat.stderr and b"not valid UTF-8 text" in chat.stderr
    assert b"ferry" in chat.stdout.split(b"not valid")[-1]  # the next question is still answered


def test_an_empty_question_or_query_is_one_line_and_exit_2(hostile):
    """`qa search "   "` listed ten arbitrary passages (exit 0) and `qa ask ""` said "I could not
    find an answer" (exit 3), as if the index had been searched for something; `qa ask -` with an
    empty stdin already said "no question on stdin". An empty or blank question or query is a
    usage error everywhere: the CLI, the Python API (and through it the server and LangChain)."""
    from qa.assistant import Assistant
    from qa.errors import UsageError
    from qa.settings import Settings

    ix = str(hostile["index"])
    for args in (["ask", ""], ["ask", "  \t "], ["search", "   "], ["search", ""]):
        res = subprocess.run([qa_executable(), *args, "--index", ix, "--json"], capture_output=True, timeout=300)
        err = res.stderr.decode("utf-8", "replace")
        assert res.returncode == 2, (args, res.returncode, err[-800:])
        assert "Traceback" not in err and err.count("\n") == 1 and ": empty" in err, err
        assert res.stdout == b""
    bot = Assistant(Settings(index=hostile["index"]))
    for call in (lambda: bot.ask(" "), lambda: bot.search("")):
        with pytest.raises(UsageError, match="empty"):
            call()
