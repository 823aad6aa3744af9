"""Human-readable terminal output for answers and passages."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _escape_markup

from qa.errors import printable
from qa.types import Answer, Passage


def escape(text: str) -> str:
    """Untrusted multi-line text (answers, quotes, passages) for ``console.print``: neither rich
    markup nor terminal control sequences (no OSC 8 hyperlinks, colours or cursor moves)."""
    return _escape_markup(printable(text, keep="\n\t"))


def _shown(text: str) -> str:
    """Untrusted text (titles, sources, paths, urls) for the terminal: one line, no markup."""
    return _escape_markup(printable(text))


def _when(d: object) -> str:
    return d.isoformat() if d else "date unknown"  # type: ignore[attr-defined]


def print_answer(answer: Answer, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if answer.answered and answer.short_answer is None and answer.extra.get("short_answer_reason"):
        console.print(f"[dim]({_shown(answer.extra['short_answer_reason'])}; the sentences that may answer:)[/]")
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
        console.print(f"  [bold]\\[{c.n}][/] {_shown(c.title or '(untitled)')} — {_shown(meta)}")
        console.print(f"      [italic]“{escape(c.quote)}”[/]")
        console.print(f"      [dim]{_shown(where)} (chars {c.start}–{c.end})[/]")


def print_passages(query: str, passages: list[Passage], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if not passages:
        console.print("No passages found.")
        return
    for i, p in enumerate(passages, 1):
        console.print(
            f"[bold]{i}.[/] [cyan]{p.score:.3f}[/] {_shown(p.title or '(untitled)')} — "
            f"{_shown(' · '.join(x for x in (p.source, _when(p.published_at)) if x))}"
        )
        text = " ".join(p.text.split())
        console.print(f"   {escape(text[:400])}{'…' if len(text) > 400 else ''}")
        console.print(f"   [dim]{_shown(p.url or p.doc_id)}[/]")


def print_eval(result: dict, console: Console | None = None) -> None:
    from rich.table import Table

    console = console or Console(highlight=False)
    cols = ["questions", "recall@1", "recall@5", "recall@10", "mrr@10", "answer_contains_gold", "ceiling",
            "short_exact_match", "short_f1", "short_answered", "short_accuracy_answered"]
    shown = {"answer_contains_gold": "answer✓", "short_exact_match": "short EM", "short_f1": "short F1",
             "short_answered": "answered", "short_accuracy_answered": "EM|answered"}
    table = Table(title=f"qa eval (k={result.get('k')})")
    table.add_column("month")
    for c in cols:
        table.add_column(shown.get(c, c), justify="right")
    for month, row in result["by_month"].items():
        table.add_row(month, *(str(row[c]) for c in cols))
    table.add_row("[bold]all[/]", *(f"[bold]{result['overall'][c]}[/]" for c in cols))
    console.print(table)
    console.print(f"search p50 {result['search_ms_p50']} ms · p95 {result['search_ms_p95']} ms · index {result['index']}")
