"""The layers of ARCHITECTURE.md, checked: a module imports only from its own layer and below
(imports inside functions included), so a rule cannot drift into the wrong place unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "qa"

# qa.<package or module> → what it must never import (anything above it)
SURFACES = {"qa.cli", "qa.server", "qa.web", "qa.langchain"}
FORBIDDEN = {
    "index": {"qa.ingest", "qa.feeds", "qa.answer", "qa.retrieve", "qa.rerank", "qa.rank", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "ingest": {"qa.feeds", "qa.answer", "qa.retrieve", "qa.rerank", "qa.rank", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "feeds": {"qa.answer", "qa.retrieve", "qa.rerank", "qa.rank", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "answer": {"qa.ingest", "qa.feeds", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "rank": {"qa.ingest", "qa.feeds", "qa.answer", "qa.retrieve", "qa.rerank", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "retrieve": {"qa.ingest", "qa.feeds", "qa.answer", "qa.conversation", "qa.assistant", "qa.evaluate", *SURFACES},
    "types": {"qa.index", "qa.ingest", "qa.feeds", "qa.answer", "qa.retrieve", "qa.rank", "qa.assistant", *SURFACES},
    "temporal": {"qa.index", "qa.ingest", "qa.feeds", "qa.answer", "qa.retrieve", "qa.rank", "qa.assistant", *SURFACES},
    "conversation": {"qa.index", "qa.ingest", "qa.feeds", *SURFACES},
    "assistant": SURFACES,
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "qa" or n.startswith("qa.")}


def modules(layer: str) -> list[Path]:
    folder = SRC / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [SRC / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    found = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in modules(layer)
        for name in sorted(imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert not found, found
