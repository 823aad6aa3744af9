"""Prompt templates are files in ``prompts/`` (overridable with QA_PROMPTS_DIR), read at run time."""

from __future__ import annotations

from pathlib import Path

from qa.errors import QAError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"
NAMES = ("system", "answer", "condense", "passage")


def prompts_dir(override: Path | None) -> Path:
    return (override or DEFAULT_DIR).expanduser()


def load_prompt(name: str, override: Path | None = None) -> str:
    """The template ``name`` (system, answer, condense, passage); the override folder wins."""
    for folder in [override, DEFAULT_DIR] if override else [DEFAULT_DIR]:
        path = prompts_dir(folder) / f"{name}.md"
        if path.exists():
            return path.read_text(encoding="utf-8").strip() + "\n"
    raise QAError(f"prompt template {name}.md not found in {prompts_dir(override)}")
