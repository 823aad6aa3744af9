"""What a shell user expects of `qa`: --version, python -m qa, completion, a question from stdin,
output that pipes cleanly, `qa eval` readable piped and showing progress on a terminal, and the
chat's line editing, history, --list and --export — all through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import SAMPLES, qa_executable, run_json, run_qa

QUESTION = "When did Varga and Hale last speak?"


@pytest.fixture(scope="module")
def ix(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("habits") / "index"
    assert run_json("ingest", str(SAMPLES), index=index)["added"] == 6
    return index


def test_version_and_python_dash_m(ix):
    from qa import __version__

    res = run_qa("--version")
    assert res.returncode == 0 and res.stdout == f"qa {__version__}\n"
    mod = subprocess.run([sys.executable, "-m", "qa", "--version"], capture_output=True, text=True, timeout=120)
    assert mod.returncode == 0 and mod.stdout == res.stdout
    out = subprocess.run([sys.executable, "-m", "qa", "search", "tram", "--k", "1", "--json", "--index", str(ix)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and json.loads(out.stdout)["results"]


def test_shell_completion_scripts():
    """`qa --show-completion` prints the script for the shell it runs in (`--install-completion`
    adds it to the shell's startup file); typer's own switch names the shell explicitly here, as
    a test has no interactive shell to detect."""
    named = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    for shell, marker in (("bash", "complete -o default -F _qa_completion qa"), ("zsh", "compdef _qa_completion qa"),
                          ("fish", "complete --command qa")):
        res = run_qa("--show-completion", shell, env=named)
        assert res.returncode == 0 and marker in res.stdout and "_QA_COMPLETE" in res.stdout, shell


def test_ask_reads_the_question_from_stdin(ix):
    direct = run_json("ask", QUESTION, "--as-of", "2025-03-10", index=ix)
    piped = run_json("ask", "-", "--as-of", "2025-03-10", index=ix, stdin=QUESTION + "\n")
    assert piped["question"] == QUESTION and piped["answer"] == direct["answer"]
    empty = run_qa("ask", "-", index=ix, stdin="  \n")
    assert empty.returncode == 2 and "stdin" in empty.stderr and empty.stderr.count("\n") == 1


def test_piped_output_is_not_wrapped_and_has_no_trailing_spaces(ix):
    answer = run_json("ask", QUESTION, "--as-of", "2025-03-10", index=ix)["answer"]
    assert len(answer) > 200  # long enough that an 80-column wrap would split it
    human = run_qa("ask", QUESTION, "--as-of", "2025-03-10", index=ix, env={"COLUMNS": "80"})
    lines = human.stdout.splitlines()
    assert lines[0] == answer  # the whole paragraph on one line
    search = run_qa("search", "storm power homes", "--k", "3", index=ix).stdout.splitlines()
    for line in lines + search:
        assert line == line.rstrip(), repr(line)
    assert any(len(line) > 80 for line in search)


def _eval_dataset(tmp_path: Path) -> Path:
    d = tmp_path / "ds"
    d.mkdir(parents=True)
    (d / "articles.jsonl").write_text((SAMPLES / "wire-feed.jsonl").read_text())
    qs = [{"id": f"q{i}", "asked_on": "2025-03-10", "question": q, "answer": a} for i, (q, a) in enumerate([
        ("Which team won the national cup?", "Port Athletic"),
        ("To what level did the central bank cut its interest rate?", "2.75 percent"),
        ("How many homes lost power in Storm Ilse?", "80,000"),
    ])]
    (d / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in qs) + "\n")
    return d


def test_eval_piped_is_a_whole_plain_table(tmp_path):
    res = run_qa("eval", str(_eval_dataset(tmp_path)), "--k", "5", env={"COLUMNS": "60"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    header = lines[1].split()
    assert header == ["month", "questions", "recall@1", "recall@5", "recall@10", "mrr@10", "answered", "answer", "ceiling",
                      "short_em", "short_f1", "short_answered", "short_acc"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line.split()[:1] in (["2025-03"], ["all"])}
    assert rows["2025-03"][0] == "3" and rows["all"][0] == "3" and rows["all"][2] == "1.0"
    assert not any(ch in res.stdout for ch in "│┃━─…") and all(line == line.rstrip() for line in lines)
    assert res.stderr == ""  # no progress when stderr is not a terminal


def test_eval_shows_progress_on_a_terminal(tmp_path):
    child = pexpect.spawn(qa_executable(), ["eval", str(_eval_dataset(tmp_path)), "--k", "5"],
                          encoding="utf-8", timeout=300, dimensions=(40, 120), env={**os.environ, "TERM": "xterm"})
    try:
        child.expect("ingesting")
        child.expect("questions")
        child.expect("3/3")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def _stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `qa` with stderr on a terminal (a pty, 200 columns) and stdout piped, as in
    `qa ingest --json > report.json` typed at a terminal: the result, and what the terminal got."""
    import pty
    import threading

    master, slave = pty.openpty()
    proc = subprocess.Popen([qa_executable(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "200", **env}, text=True)
    os.close(slave)
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the pty's other end is closed
                return
            if not data:
                return
            shown.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, ""), b"".join(shown).decode("utf-8", "replace")


def test_ingest_shows_records_read_and_chunks_embedded_out_of_a_total_on_a_terminal(tmp_path):
    """Progress goes to a terminal's stderr only, stdout keeps the one JSON object; chunks are
    counted as the encoder goes (not once per write of 512), out of the total planned so far."""
    import re

    from conftest import synthetic_feed

    feed = synthetic_feed(tmp_path / "feed.jsonl", 80, seed=3)
    res, terminal = _stderr_on_a_terminal(["ingest", str(feed), "--json", "--index", str(tmp_path / "ix")],
                                          {"QA_EMBED_BATCH_SIZE": "16"})
    assert res.returncode == 0
    report = json.loads(res.stdout)
    assert report["added"] == 80
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    assert "80 records read" in plain, plain[-500:]
    seen = {(int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in re.findall(r"embedding ([\d,]+)/([\d,]+) chunks", plain)}
    assert (report["chunks"], report["chunks"]) in seen, sorted(seen)
    assert any(0 < done < total for done, total in seen), sorted(seen)  # shown while under way, not only at the end
    piped = run_qa("ingest", str(feed), "--json", index=tmp_path / "piped")
    assert piped.returncode == 0 and piped.stderr == "" and json.loads(piped.stdout)["added"] == 80


def test_eval_llm_answers_through_the_backend(tmp_path, llama_server):
    out = run_json("eval", str(_eval_dataset(tmp_path)), "--k", "3", "--limit", "1", "--llm", "openai:smollm2",
                   "--base-url", llama_server)
    assert out["backend"] == "openai:smollm2" and out["overall"]["questions"] == 1
    assert run_qa("eval", str(_eval_dataset(tmp_path / "x")), "--llm", "nonsense").returncode == 2


def _chat(ix: Path, *args: str) -> pexpect.spawn:
    return pexpect.spawn(qa_executable(), ["chat", "--index", str(ix), "--as-of", "2025-03-10", *args],
                         encoding="utf-8", timeout=180, dimensions=(50, 200),
                         env={**os.environ, "TERM": "xterm", "NO_COLOR": "1"})


LEFT, UP = "\x1b[D", "\x1b[A"


def test_chat_line_editing_history_list_and_export(ix):
    child = _chat(ix, "--session", "habits")
    try:
        child.expect("you> ")
        # typed with a missing letter, fixed by moving left: the arrow keys edit, never type ^[[D
        child.send("When did Varga and Hal last speak" + LEFT * len(" last speak") + "e" + "\r")
        child.expect("Sources")
        child.expect("you> ")
        assert "^[[D" not in child.before and "[D" not in child.before
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    saved = json.loads((ix / "sessions" / "habits.json").read_text())
    assert saved["turns"][0]["question"] == QUESTION.rstrip("?")

    # history survives the process: the up arrow brings the question back
    child = _chat(ix, "--session", "habits2")
    try:
        child.expect("you> ")
        child.send(UP + "\r")
        child.expect("Sources")
        child.expect("you> ")
        child.sendline("Who asked for the call?")
        child.expect(r"\(asking: Who asked for the call \(Varga and Hale\) on Saturday 8 March 2025\?\)")
        child.expect("varga-hale-call")
        child.expect("you> ")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    turns = json.loads((ix / "sessions" / "habits2.json").read_text())["turns"]
    assert turns[0]["question"] == QUESTION.rstrip("?")

    listed = run_qa("chat", "--list", index=ix).stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["habits2", "2"], ["habits", "1"]] or \
        sorted(line.split("\t")[0] for line in listed) == ["habits", "habits2"]
    assert {s["name"]: s["turns"] for s in run_json("chat", "--list", index=ix)["sessions"]} == {"habits": 1, "habits2": 2}

    md = run_qa("chat", "--export", "habits2", index=ix)
    assert md.returncode == 0
    assert md.stdout.startswith("# qa chat: habits2\n")
    assert "## Who asked for the call?" in md.stdout
    assert "*Asked as: Who asked for the call \\(Varga and Hale\\) on Saturday 8 March 2025?*" in md.stdout
    assert "Sources:" in md.stdout and "<https://ledger.example/world/varga-hale-call>" in md.stdout
    missing = run_qa("chat", "--export", "nope", index=ix)
    assert missing.returncode == 1 and "qa chat --list" in missing.stderr
