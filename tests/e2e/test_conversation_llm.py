"""The LLM path of the Python surface against the real llama.cpp server (SmolLM2-135M): a
LangChain chat model object handed to Assistant.open, QARetriever under a real model in
create_retrieval_chain, and the condense step on the 42 hand-written conversation turns.
The small model's wording is never asserted: wiring and format are."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))

from conversation_turns import CONVERSATIONS, judge, turns  # noqa: E402

from qa import Assistant  # noqa: E402
from qa.conversation import Turn, accept_condensed, rewrite  # noqa: E402

AS_OF = date(2025, 11, 24)
QUESTION = "When did Putin and Netanyahu last speak?"


def _chat_model(url: str, max_tokens: int = 60, **kwargs):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="smollm2", base_url=url, api_key="x", max_tokens=max_tokens, temperature=0, timeout=300,
                      max_retries=0, **kwargs)


def test_a_chat_model_object_answers_verified_or_falls_back(seed_index, llama_server):
    bot = Assistant.open(index=seed_index, chat_model=_chat_model(llama_server), k=3, llm_deadline=600)
    answer = bot.ask(QUESTION, as_of=AS_OF)
    assert answer.extra["backend"] == "langchain" and answer.extra["model"] == "smollm2"
    assert answer.extra["usage"]["prompt_tokens"] > 100 and answer.extra["raw_answer"]  # the server was asked
    assert isinstance(answer.extra["fallback"], bool) and answer.citations
    for c in answer.citations:  # verified or fallen back, every citation is an exact quote
        assert c.quote in c.text
    # a sentence the model is made to write (grammar) that the passage supports is shown as verified
    prep = bot._prepare(QUESTION, AS_OF, None, None)
    sentence = next(x for x in prep.relevant[0].text.split("\n") if "Saturday" in x)
    escaped = sentence.replace("\\", "\\\\").replace('"', '\\"')
    forced = Assistant.open(index=seed_index, chat_model=_chat_model(
        llama_server, max_tokens=200, extra_body={"grammar": f'root ::= "{escaped} [1]"'}), k=3, llm_deadline=600)
    out = forced.ask(QUESTION, as_of=AS_OF)
    assert out.extra["fallback"] is False and out.extra["verification"]["verified"] and out.answer.endswith("[1].")
    bot.close()
    forced.close()


def test_retriever_with_a_real_model_in_create_retrieval_chain(seed_index, llama_server):
    from langchain_classic.chains import create_retrieval_chain
    from langchain_classic.chains.combine_documents import create_stuff_documents_chain
    from langchain_core.prompts import ChatPromptTemplate

    from qa.langchain import QARetriever

    prompt = ChatPromptTemplate.from_messages([("system", "Answer from the context.\n\n{context}"), ("human", "{input}")])
    rag = create_retrieval_chain(QARetriever(index=seed_index, k=2, as_of=AS_OF),
                                 create_stuff_documents_chain(_chat_model(llama_server), prompt))
    out = rag.invoke({"input": QUESTION})
    assert isinstance(out["answer"], str) and out["answer"].strip()
    assert out["context"] and out["context"][0].metadata["published_at"] == "2025-11-15"


@pytest.mark.slow
def test_condense_step_on_the_conversation_turns(seed_index, llama_server):
    """Every follow-up of the 42 turns goes to the real model's condense step; it must come back
    as one usable line, and it is used only when it keeps the names the rule keeps. Prints the
    pass counts of the raw condensed questions and of what the conversation asks (-s)."""
    bot = Assistant.open(index=seed_index, chat_model=_chat_model(llama_server))
    raw_pass = used_pass = asked = 0
    for conversation in CONVERSATIONS:
        history: list[Turn] = []
        for i, (_, says, _, answer, (event_date, label)) in enumerate(conversation):
            standalone, frame = rewrite(says, history)
            used = standalone
            if history and standalone != says or history and frame != says:
                asked += 1
                lines = "\n".join(f"User: {t.standalone}\nAssistant: {t.answer}" for t in history[-3:])
                condensed = bot.condense(lines, says)
                if condensed is not None:  # one line, 5-300 characters: the format the step promises
                    assert "\n" not in condensed and 5 <= len(condensed) <= 300
                raw_pass += judge(conversation, i, condensed or says) is None
                if accept_condensed(condensed, standalone, f"{lines}\n{says}"):
                    used = condensed  # type: ignore[assignment]
            else:
                raw_pass += judge(conversation, i, says) is None
            used_pass += judge(conversation, i, used) is None
            history.append(Turn(says, used, answer, True, event_date, label, frame=frame))
    print(f"LLM condense (SmolLM2-135M): raw {raw_pass}/{len(turns())} turns pass; "
          f"as used (kept only when it keeps the names) {used_pass}/{len(turns())}; {asked} turns sent to the model")
    assert asked >= 25
    bot.close()
