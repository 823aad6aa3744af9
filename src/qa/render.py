"""Human-readable terminal output for answers and passages."""

from __future__ import annotations

import unicodedata

from rich.console import Console
from rich.markup import escape as _escape_markup

from qa.types import Answer, Passage


def terminal_text(text: str) -> str:
    """``text`` with control characters (C0/C1, ESC included) shown as ``\\xNN`` escapes, so article
    text can never drive the terminal: no OSC 8 hyperlinks, colours or cursor moves. Newlines and
    tabs stay."""
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}" for ch in text
    )


def escape(text: str) -> str:
    """Untrusted text for ``console.print``: neither rich markup nor terminal control sequences."""
    return _escape_markup(terminal_text(text))


def _when(d: object) -> str:
    return d.isoformat() if d else "date unknown"  # type: ignore[attr-defined]


def print_answer(answer: Answer, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    console.print(escape(answer.answer), soft_wrap=False)
    print_sources(answer, console)


def print_sources(answer: Answer, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if not answer.citations:
        return
    console.print()
    console.print("[bold]Sources[/]")
    for c in answer.citations:
        where = c.url or c.doc_id
        meta = " · ".join(x for x in (c.source, _when(c.published_at)) if x)
        console.print(f"  [bold]\\[{c.n}][/] {escape(c.title or '(untitled)')} — {escape(meta)}")
        console.print(f"      [italic]“{escape(c.quote)}”[/]")
        console.print(f"      [dim]{escape(where)} (chars {c.start}–{c.end})[/]")


def print_passages(query: str, passages: list[Passage], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if not passages:
        console.print("No passages found.")
        return
    for i, p in enumerate(passages, 1):
        console.print(
            f"[bold]{i}.[/] [cyan]{p.score:.3f}[/] {escape(p.title or '(untitled)')} — "
            f"{escape(' · '.join(x for x in (p.source, _when(p.published_at)) if x))}"
        )
        text = " ".join(p.text.split())
        console.print(f"   {escape(text[:400])}{'…' if len(text) > 400 else ''}")
        console.print(f"   [dim]{escape(p.url or p.doc_id)}[/]")


def print_eval(result: dict, console: Console | None = None) -> None:
    from rich.table import Table

    console = console or Console(highlight=False)
    cols = ["questions", "recall@1", "recall@5", "recall@10", "mrr@10", "answer_contains_gold", "ceiling"]
    table = Table(title=f"qa eval (k={result.get('k')})")
    table.add_column("month")
    for c in cols:
        table.add_column(c.replace("answer_contains_gold", "answer✓"), justify="right")
    for month, row in result["by_month"].items():
        table.add_row(month, *(str(row[c]) for c in cols))
    table.add_row("[bold]all[/]", *(f"[bold]{result['overall'][c]}[/]" for c in cols))
    console.print(table)
    console.print(f"search p50 {result['search_ms_p50']} ms · p95 {result['search_ms_p95']} ms · index {result['index']}")
