"""`qa serve`: the HTTP face of ``qa.Assistant``.

    app.py          create_app: the routes, each a translation of one Assistant call
    openai_chat.py  the OpenAI chat-completions protocol over a Conversation (plain and SSE)
    markdown.py     answers and sources as chat-message markdown, and such a reply read back
    security.py     API key, rate limits, body limit, Host names, backend names, public details
"""

from __future__ import annotations

from qa.server.app import create_app
from qa.server.markdown import markdown_answer, markdown_text, sources_markdown
from qa.server.security import RateLimiter

__all__ = ["RateLimiter", "create_app", "markdown_answer", "markdown_text", "sources_markdown"]
