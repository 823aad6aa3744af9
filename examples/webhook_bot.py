"""A chat bot on qa's Python API: a webhook that a messenger (Telegram, Slack, Matrix, …) calls
with each message; it answers with cited sources and understands follow-ups per chat.

    QA_INDEX=index uvicorn examples.webhook_bot:app --port 8080
    curl -s localhost:8080/webhook -H 'content-type: application/json' \
         -d '{"chat_id": "42", "text": "When did Varga and Hale last speak?"}'
"""

import os
from datetime import date

from fastapi import FastAPI
from pydantic import BaseModel

from qa import Assistant

bot = Assistant.open(index=os.environ.get("QA_INDEX", "index"))  # chat_model=… for generated answers
app = FastAPI(title="qa webhook bot")


class Incoming(BaseModel):
    chat_id: str
    text: str
    as_of: date | None = None  # answer as of this day (default: today)


class Reply(BaseModel):
    text: str
    asked: str  # the standalone question qa answered
    sources: list[str]


@app.post("/webhook")
async def webhook(message: Incoming) -> Reply:
    # one conversation per chat, kept under INDEX/sessions/ (or history=<your LangChain message store>)
    chat = bot.chat(session=f"webhook-{message.chat_id}")
    if message.text.strip() == "/reset":
        chat.reset()
        return Reply(text="Conversation forgotten.", asked="", sources=[])
    asked, answer = await chat.aask(message.text, as_of=message.as_of)
    sources = [f"[{c.n}] {c.title} ({c.published_at or 'undated'}) {c.url}".rstrip() for c in answer.citations]
    return Reply(text=answer.answer, asked=asked, sources=sources)
