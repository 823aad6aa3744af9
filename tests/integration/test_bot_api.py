"""What a bot built on the Python API needs: its own chat model object, its own message store,
async calls — over the real sample index."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, messages_from_dict, message_to_dict
from langchain_core.outputs import ChatGeneration, ChatResult

from qa import Assistant
from qa.errors import UsageError

AS_OF = date(2025, 3, 10)
QUESTION = "When did Varga and Hale last speak?"


@pytest.fixture(scope="module")
def bot(sample_index):
    bot = Assistant.open(index=sample_index)
    yield bot
    bot.close()


class SQLiteHistory(BaseChatMessageHistory):
    """A bot's own message store: one SQLite table, messages serialised by LangChain's own
    message_to_dict (as SQL- and Redis-backed histories do)."""

    def __init__(self, path: str, session: str):
        self.db, self.session = sqlite3.connect(path), session
        self.db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, session TEXT, message TEXT)")

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        rows = self.db.execute("SELECT message FROM messages WHERE session = ? ORDER BY id", (self.session,))
        return messages_from_dict([json.loads(r[0]) for r in rows])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.db.executemany("INSERT INTO messages (session, message) VALUES (?, ?)",
                            [(self.session, json.dumps(message_to_dict(m))) for m in messages])
        self.db.commit()

    def clear(self) -> None:
        self.db.execute("DELETE FROM messages WHERE session = ?", (self.session,))
        self.db.commit()


class EchoFirstPassage(BaseChatModel):
    """An in-house chat model class, as a bot might wrap its own: it answers with the first
    passage's first sentence and a [1] marker (or fails, when told to)."""

    fail: bool = False

    @property
    def _llm_type(self) -> str:
        return "echo-first-passage"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if self.fail:
            raise RuntimeError("in-house model is down")
        prompt = str(messages[-1].content)
        body = prompt.split('<passage n="1"', 1)[1].split(">", 1)[1].split("</passage>", 1)[0].strip()
        sentence = body.split(". ")[0].rstrip(".")
        message = AIMessage(f"{sentence} [1].", response_metadata={"finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_any_langchain_chat_model_object_answers_through_verification(sample_index):
    model = EchoFirstPassage()
    bot = Assistant.open(index=sample_index, chat_model=model)
    try:
        answer = bot.ask(QUESTION, as_of=AS_OF)
        assert answer.extra["backend"] == "langchain" and answer.extra["model"] == "EchoFirstPassage"
        assert answer.extra["fallback"] is False and answer.extra["verification"]["verified"]
        assert answer.citations and answer.citations[0].quote in answer.citations[0].text
        # llm= takes the object too (the form the issue tried), and ask_stream streams it
        again = Assistant.open(index=sample_index, llm=model)
        stream = again.ask_stream(QUESTION, as_of=AS_OF)
        assert "".join(stream) == stream.answer.answer == answer.answer
    finally:
        bot.close()


def test_a_failing_chat_model_object_falls_back_to_the_extractive_answer(sample_index):
    bot = Assistant.open(index=sample_index, chat_model=EchoFirstPassage(fail=True))
    answer = bot.ask(QUESTION, as_of=AS_OF)
    assert answer.extra["fallback"] is True and "in-house model is down" in answer.extra["llm_error"]
    assert answer.answered and answer.answer.startswith("(The langchain:EchoFirstPassage")
    bot.close()


def test_what_is_not_a_chat_model_is_refused_in_one_line(sample_index):
    with pytest.raises(UsageError, match="not a LangChain chat model"):
        Assistant.open(index=sample_index, chat_model=object())
    with pytest.raises(UsageError, match="is not a backend"):
        from qa.answer.llms import parse_backend

        parse_backend("nonsense:x")


def test_conversation_kept_in_a_langchain_message_history(bot, tmp_path):
    sessions = bot.settings.resolved_index() / "sessions"
    before = sorted(sessions.glob("*")) if sessions.exists() else []
    store = SQLiteHistory(str(tmp_path / "bot.db"), "user-42")
    chat = bot.chat(history=store)
    chat.ask(QUESTION, as_of=AS_OF)
    assert [m.type for m in store.messages] == ["human", "ai"]
    assert store.messages[1].additional_kwargs["qa"]["event_label"] == "Saturday 8 March 2025"
    # a later process, the same store: the follow-up goes on from there
    resumed = bot.chat(history=SQLiteHistory(str(tmp_path / "bot.db"), "user-42"))
    standalone, answer = resumed.ask("And before that?", as_of=AS_OF)
    assert standalone == "When did Varga and Hale last speak before Saturday 8 March 2025?"
    assert len(store.messages) == 4
    assert (sorted(sessions.glob("*")) if sessions.exists() else []) == before  # nothing written beside the store
    resumed.reset()
    assert store.messages == []


def test_messages_written_by_others_are_earlier_turns(bot):
    """A store the bot filled before it used qa (plain messages, no qa metadata)."""
    store = InMemoryChatMessageHistory()
    store.add_messages([HumanMessage(QUESTION), AIMessage("On Saturday 8 March 2025 [1]: they held a phone call.")])
    chat = bot.chat(history=store)
    assert chat.history[0].event_label == "Saturday 8 March 2025"
    assert chat.rewrite("Who asked for the call?") == "Who asked for the call (Varga and Hale) on Saturday 8 March 2025?"


def test_async_ask_stream_and_search(bot):
    async def main() -> tuple[Any, ...]:
        passages, answer = await asyncio.gather(bot.asearch(QUESTION, 3, as_of=AS_OF), bot.aask(QUESTION, as_of=AS_OF))
        stream = bot.astream(QUESTION, as_of=AS_OF)
        pieces = [p async for p in stream]
        final = await stream.final()
        standalone, follow = await bot.chat().aask(QUESTION, as_of=AS_OF)
        return passages, answer, pieces, final, stream.answer, follow

    passages, answer, pieces, final, same, follow = asyncio.run(main())
    assert passages[0].title.startswith("Varga and Hale")
    assert "".join(pieces) == final.answer == answer.answer and same is final
    assert follow.answer == answer.answer
    with pytest.raises(RuntimeError, match="iterate"):
        _ = bot.astream(QUESTION).answer


@pytest.fixture(scope="module")
def news_index(tmp_path_factory, seed_path):
    """The samples and the seed story together: two leaders' calls in one index."""
    from conftest import SAMPLES
    from qa.dates import parse_date

    index = tmp_path_factory.mktemp("news") / "index"
    bot = Assistant.open(index=index)
    meta = json.loads(seed_path.with_suffix(".json").read_text())
    bot.ingest([str(SAMPLES)])
    bot.ingest([str(seed_path)], published_at=parse_date(meta["published_at"]))
    bot.close()
    return index


def test_issue_follow_up_stays_on_its_story_in_python_and_v1(news_index):
    """Issue 15: "Who asked for the call?" after the Putin–Netanyahu question was answered from
    the Varga–Hale article. The Python conversation and `/v1` (rebuilt from the messages a client
    sends) rewrite it the same way and answer from the Putin–Netanyahu story."""
    from qa.server.markdown import markdown_answer, sources_markdown
    from qa.server.openai_chat import Message, read_messages

    as_of = date(2025, 11, 24)
    bot = Assistant.open(index=news_index)
    chat = bot.chat()
    _, first = chat.ask("When did Putin and Netanyahu last speak?", as_of=as_of)
    assert "15 November 2025" in first.answer
    reply = markdown_answer(first.answer) + sources_markdown(first)
    exchanges, text = read_messages([Message(role="user", content="When did Putin and Netanyahu last speak?"),
                                     Message(role="assistant", content=reply),
                                     Message(role="user", content="Who asked for the call?")], as_of)
    rebuilt = bot.chat(exchanges=exchanges)
    standalone = chat.rewrite("Who asked for the call?")
    assert rebuilt.rewrite(text) == standalone
    assert "Putin and Netanyahu" in standalone and "15 November 2025" in standalone
    for conversation in (chat, rebuilt):
        _, answer = conversation.ask(text, as_of=as_of)
        assert answer.answered and answer.citations
        assert all("Netanyahu" in c.text or "Putin" in c.text for c in answer.citations)
        assert not any("Varga" in c.title for c in answer.citations)
    # "what about Varga and Hale?" keeps the frame with the new names, and no date of the old story
    standalone, answer = chat.ask("What about Varga and Hale?", as_of=as_of)
    assert "Varga and Hale" in standalone and "call" in standalone and "November" not in standalone
    assert answer.citations[0].title.startswith("Varga and Hale")
    # a new topic starts fresh: no inherited date
    standalone, answer = chat.ask("How many homes lost power in Storm Ilse?", as_of=as_of)
    assert standalone == "How many homes lost power in Storm Ilse?" and "80,000" in answer.answer
    bot.close()


def test_a_number_of_passages_out_of_range_is_a_usage_error_never_a_crash(sample_index):
    """A bot asking `bot.search(q, 10**9)` had its whole process aborted ('memory allocation of
    64000000000 bytes failed' in the BM25 engine), and k=0 or k=-1 gave the default's passages."""
    import subprocess
    import sys

    script = f"""
from qa import Assistant
from qa.errors import UsageError
bot = Assistant.open(index={str(sample_index)!r})
for k in (10**9, 201, 0, -1, 2.5, True):
    for call in (lambda: bot.search("storm", k), lambda: bot.ask("What did the storm do?", k=k)):
        try:
            call()
        except UsageError as e:
            assert "k" in str(e) and "\\n" not in str(e), e
        else:
            raise SystemExit(f"k={{k!r}} was taken")
assert len(bot.search("storm", 200)) >= 1 and len(bot.search("storm", 1)) == 1
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", (res.returncode, res.stdout[-500:], res.stderr[-2000:])


def test_a_question_that_is_not_text_is_a_type_error_naming_it(bot):
    """bot.ask(None) raised "AttributeError: 'NoneType' object has no attribute 'split'" and
    bot.search(None) "TypeError: object of type 'NoneType' has no len()", from deep inside."""
    for value in (None, 42, b"Who won the cup?", ["Who won the cup?"]):
        with pytest.raises(TypeError, match=r"^question is text, not "):
            bot.ask(value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^query is text, not "):
            bot.search(value)  # type: ignore[arg-type]
    assert bot.ask("Who won the national cup?", as_of=AS_OF).answered


def test_a_since_after_the_until_is_a_request_error_in_the_python_api(bot):
    """bot.search(q, filters=SearchFilters(since=later, until=earlier)) and bot.ask alike
    searched a range holding no day and quietly found nothing, where the CLI says exit 2 and the
    server 422: the Python API refuses it with the RequestError of the caller's other input."""
    from qa.errors import RequestError
    from qa.index.filters import SearchFilters

    empty = SearchFilters(since=date(2025, 3, 5), until=date(2025, 3, 1))
    for call in (lambda: bot.search("storm", filters=empty), lambda: bot.ask("What did the storm do?", filters=empty)):
        with pytest.raises(RequestError, match=r"^filters: since 2025-03-05 is after until 2025-03-01"):
            call()
    one_day = SearchFilters(since=date(2025, 3, 5), until=date(2025, 3, 5))
    assert all(p.published_at == date(2025, 3, 5) for p in bot.search("storm", 50, filters=one_day))


def test_an_empty_range_is_one_error_from_one_validator_on_every_surface(bot):
    """"A since after the until holds no day" was checked at four surfaces, each raising its own
    error: the server's and QARetriever's validators a plain ValueError, the Assistant a
    RequestError that is no ValueError, the CLI its own words. One validator
    (qa.index.filters.check_range) now raises one error for all of them, a RequestError (the
    CLI's exit 2, the server's 400) that is also a ValueError (pydantic's 422 body,
    QARetriever's ValidationError), in one wording: a caller catching either gets it everywhere."""
    from pydantic import ValidationError

    from qa.errors import RequestError
    from qa.index.filters import SearchFilters
    from qa.langchain import QARetriever
    from qa.server.app import AskRequest, SearchRequest

    since, until = date(2025, 3, 5), date(2025, 3, 1)
    causes: list[BaseException] = []
    for make in (lambda: QARetriever(assistant=bot, since=since, until=until),
                 lambda: SearchRequest(query="storm", since=since, until=until),
                 lambda: AskRequest(question="What did the storm do?", since=since, until=until)):
        with pytest.raises(ValidationError) as refused:
            make()
        causes.append(refused.value.errors()[0]["ctx"]["error"])
    empty = SearchFilters(since=since, until=until)
    for call in (lambda: bot.search("storm", filters=empty), lambda: bot.ask("What did the storm do?", filters=empty)):
        with pytest.raises(ValueError) as refused:
            call()
        causes.append(refused.value)
    assert all(isinstance(c, RequestError) and isinstance(c, ValueError) for c in causes), [type(c) for c in causes]
    assert {str(c).removeprefix("filters: ") for c in causes} == {
        "since 2025-03-05 is after until 2025-03-01: no day is in that range"}
