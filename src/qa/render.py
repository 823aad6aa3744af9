"""Human-readable terminal output for answers and passages."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape as _escape_markup

from qa.errors import printable
from qa.types import Answer, Passage


def console() -> Console:
    """The console for qa's output on stdout: on a terminal it wraps to the terminal's width;
    piped or redirected, lines are never wrapped (a paragraph stays one line, no trailing spaces)."""
    return Console(highlight=False, soft_wrap=not sys.stdout.isatty())


def escape(text: str) -> str:
    """Untrusted multi-line text (answers, quotes, passages) for ``console.print``: neither rich
    markup nor terminal control sequences (no OSC 8 hyperlinks, colours or cursor moves)."""
    return _escape_markup(printable(text, keep="\n\t"))


def _shown(text: str) -> str:
    """Untrusted text (titles, sources, paths, urls) for the terminal: one line, no markup."""
    return _escape_markup(printable(text))


def _when(d: object) -> str:
    return d.isoformat() if d else "date unknown"  # type: ignore[attr-defined]


def print_answer(answer: Answer, out: Console | None = None) -> None:
    out = out or console()
    if answer.answered and answer.short_answer is None and answer.extra.get("short_answer_reason"):
        out.print(f"[dim]({_shown(answer.extra['short_answer_reason'])}; the sentences that may answer:)[/]")
    out.print(escape(answer.answer))
    print_sources(answer, out)


def print_sources(answer: Answer, out: Console | None = None) -> None:
    out = out or console()
    if not answer.citations:
        return
    out.print()
    out.print("[bold]Sources[/]")
    for c in answer.citations:
        where = c.url or c.doc_id
        meta = " · ".join(x for x in (c.source, _when(c.published_at)) if x)
        out.print(f"  [bold]\\[{c.n}][/] {_shown(c.title or '(untitled)')} — {_shown(meta)}")
        out.print(f"      [italic]“{escape(c.quote)}”[/]")
        out.print(f"      [dim]{_shown(where)} (chars {c.start}–{c.end})[/]")


def print_passages(query: str, passages: list[Passage], out: Console | None = None) -> None:
    out = out or console()
    if not passages:
        out.print("No passages found.")
        return
    for i, p in enumerate(passages, 1):
        out.print(
            f"[bold]{i}.[/] [cyan]{p.score:.3f}[/] {_shown(p.title or '(untitled)')} — "
            f"{_shown(' · '.join(x for x in (p.source, _when(p.published_at)) if x))}"
        )
        text = " ".join(p.text.split())
        out.print(f"   {escape(text[:400])}{'…' if len(text) > 400 else ''}")
        out.print(f"   [dim]{_shown(p.url or p.doc_id)}[/]")


EVAL_COLUMNS = ["questions", "recall@1", "recall@5", "recall@10", "mrr@10", "answered", "answer_contains_gold", "ceiling",
                "short_exact_match", "short_f1", "short_answered", "short_accuracy_answered"]
_EVAL_HEADER = {"answer_contains_gold": "answer", "short_exact_match": "short_em", "short_accuracy_answered": "short_acc"}


def print_eval(result: dict, out: Console | None = None) -> None:
    """The per-month table of `qa eval`: a rich table on a terminal; piped, plain text columns
    (every figure whole, no box characters, no trailing spaces)."""
    out = out or console()
    header = ["month", *(_EVAL_HEADER.get(c, c) for c in EVAL_COLUMNS)]
    rows = [[month, *(str(row[c]) for c in EVAL_COLUMNS)] for month, row in result["by_month"].items()]
    rows += [[quarter, *(str(row[c]) for c in EVAL_COLUMNS)] for quarter, row in result.get("by_quarter", {}).items()]
    rows.append(["all", *(str(result["overall"][c]) for c in EVAL_COLUMNS)])
    ranking = f" · ranking {result['ranking']}" if result.get("ranking") else ""
    footer = f"search p50 {result['search_ms_p50']} ms · p95 {result['search_ms_p95']} ms{ranking} · index {result['index']}"
    overall = result["overall"]
    if overall.get("cued"):
        footer = (
            f"questions with a time cue ({overall['cued']}): top passage in the window {overall['cued_top_in_window']}, "
            f"answer's first citation in the window {overall['cued_citation_in_window']} of those answered, "
            f"'nothing from that window' {overall['cued_nothing_in_window']}\n" + footer
        )
    if sys.stdout.isatty():
        from rich.table import Table

        table = Table(title=f"qa eval (k={result.get('k')})")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows[:-1]:
            table.add_row(*row)
        table.add_row(*(f"[bold]{cell}[/]" for cell in rows[-1]))
        out.print(table)
        out.print(footer)
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"qa eval (k={result.get('k')})"]
    for r in [header, *rows]:
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip())
    sys.stdout.write("\n".join([*lines, footer]) + "\n")
