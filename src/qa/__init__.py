"""qa: question answering over news articles, with cited, time-aware answers.

    from qa import Assistant
    bot = Assistant.open(index="index")
    print(bot.ask("When did Putin and Netanyahu last speak?").answer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Answer", "Article", "Assistant", "Citation", "Conversation", "Passage", "SearchFilters", "Settings"]

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.conversation import Conversation
    from qa.index.filters import SearchFilters
    from qa.settings import Settings
    from qa.types import Answer, Article, Citation, Passage


def __getattr__(name: str) -> Any:  # lazy: `qa --help` must not import torch or Chroma
    if name == "Assistant":
        from qa.assistant import Assistant

        return Assistant
    if name == "SearchFilters":
        from qa.index.filters import SearchFilters

        return SearchFilters
    if name == "Conversation":
        from qa.conversation import Conversation

        return Conversation
    if name == "Settings":
        from qa.settings import Settings

        return Settings
    if name in ("Answer", "Article", "Citation", "Passage"):
        from qa import types

        return getattr(types, name)
    raise AttributeError(name)
