"""qa.langchain inside ordinary LangChain code: QARetriever and answer_chain() in LCEL chains and in
create_retrieval_chain (langchain-classic in LangChain 1.x), over the real sample index."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from langchain_classic.chains import create_retrieval_chain
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

from qa import Answer, Assistant, SearchFilters
from qa.langchain import QARetriever, answer_chain

AS_OF = date(2025, 3, 10)
QUESTION = "When did Varga and Hale last speak?"
CITATION_KEYS = {"title", "url", "source", "published_at", "doc_id", "chunk_id", "start", "end"}


@pytest.fixture(scope="module")
def bot(sample_index):
    bot = Assistant.open(index=sample_index)
    yield bot
    bot.close()


@pytest.fixture(scope="module")
def texts(bot):
    return {a.doc_id: a.text for a in bot.articles()}


def test_retriever_is_a_langchain_retriever_with_cited_spans(sample_index, texts):
    retriever = QARetriever(index=sample_index, k=3, as_of=AS_OF)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUESTION)
    assert 1 <= len(docs) <= 3
    top = docs[0]
    assert CITATION_KEYS <= set(top.metadata)
    assert top.metadata["title"].startswith("Varga and Hale") and top.metadata["published_at"] == "2025-03-08"
    for d in docs:  # every Document is the exact span of the cleaned article it cites
        m = d.metadata
        assert texts[m["doc_id"]][m["start"]:m["end"]] == d.page_content
        assert d.id == m["chunk_id"]


def test_retriever_fields_are_the_search_filters(bot):
    before = QARetriever(assistant=bot, k=10, as_of=date(2025, 3, 2)).invoke("storm power homes museum tram")
    assert before and all(d.metadata["published_at"] is None or d.metadata["published_at"] <= "2025-03-02" for d in before)
    wire = QARetriever(assistant=bot, k=10, source="Continental Wire").invoke("interest rate storm cup")
    assert wire and {d.metadata["source"] for d in wire} == {"Continental Wire"}
    window = QARetriever(assistant=bot, k=10, since=date(2025, 3, 5), until=date(2025, 3, 7)).invoke("council museum bank")
    assert window and all("2025-03-05" <= d.metadata["published_at"] <= "2025-03-07" for d in window)
    same = bot.search("interest rate", 5, filters=SearchFilters(source="Continental Wire"))
    assert [p.chunk_id for p in same] == [d.metadata["chunk_id"] for d in
                                          QARetriever(assistant=bot, k=5, source="Continental Wire").invoke("interest rate")]


def test_retriever_in_an_ordinary_lcel_chain(bot):
    prompt = ChatPromptTemplate.from_messages([("human", "Answer from these passages:\n{context}\n\nQuestion: {question}")])

    def numbered(docs: list[Document]) -> str:
        return "\n".join(f"[{i}] {d.metadata['title']} ({d.metadata['published_at']}): {d.page_content}"
                         for i, d in enumerate(docs, 1))

    chain = {"context": QARetriever(assistant=bot, k=2, as_of=AS_OF) | numbered, "question": RunnablePassthrough()} | prompt
    messages = chain.invoke(QUESTION).to_messages()
    assert "[1] Varga and Hale discuss border trade" in messages[0].content and QUESTION in messages[0].content
    docs = asyncio.run(QARetriever(assistant=bot, k=2, as_of=AS_OF).ainvoke(QUESTION))
    assert docs[0].metadata["title"].startswith("Varga and Hale")


def test_answer_chain_in_an_ordinary_lcel_chain(bot):
    chain = (
        RunnableParallel(question=RunnablePassthrough(), as_of=RunnableLambda(lambda _: "2025-03-10"))
        | answer_chain(assistant=bot)
        | RunnableLambda(lambda a: a.to_dict())
    )
    out = chain.invoke(QUESTION)
    assert out["answered"] and out["answer"].startswith("On Saturday 8 March 2025 [1]")
    assert out["citations"][0]["title"].startswith("Varga and Hale")
    # a plain question works too, and batch and ainvoke (async bots)
    plain = answer_chain(assistant=bot, as_of=AS_OF)
    assert isinstance(plain.invoke(QUESTION), Answer)
    both = plain.batch([QUESTION, "How many homes lost power in Storm Ilse?"])
    assert "80,000" in both[1].answer
    assert asyncio.run(plain.ainvoke(QUESTION)).answer == both[0].answer


def test_answer_chain_understands_history(bot):
    chain = answer_chain(assistant=bot)
    first = chain.invoke({"question": QUESTION, "as_of": AS_OF})
    for history in (
        [HumanMessage(QUESTION), AIMessage(first.answer)],  # LangChain messages
        [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first.answer}],  # OpenAI-style
        [(QUESTION, first)],  # (question, Answer) pairs
    ):
        out = chain.invoke({"question": "And before that?", "as_of": "2025-03-10", "history": history})
        assert out.question == "When did Varga and Hale last speak before Saturday 8 March 2025?", history
        assert out.answered and "Varga" in out.citations[0].quote or "February" in out.answer
    with pytest.raises(ValueError, match="question"):
        chain.invoke({"as_of": "2025-03-10"})


def test_in_create_retrieval_chain_the_answer_cites_the_retrieved_context(bot):
    rag = create_retrieval_chain(QARetriever(assistant=bot, k=4, as_of=AS_OF), answer_chain(assistant=bot, as_of=AS_OF))
    out = rag.invoke({"input": QUESTION})
    assert {"input", "context", "answer"} <= set(out)
    answer = out["answer"]
    assert isinstance(answer, Answer) and answer.answered
    context = {d.metadata["chunk_id"]: d for d in out["context"]}
    for c in answer.citations:  # cited from exactly the documents the retriever gave
        assert any(c.doc_id == d.metadata["doc_id"] and c.quote in d.page_content for d in context.values())


def test_answer_chain_answers_from_your_own_documents(bot):
    """Documents from another store (no qa metadata) are answered from and verified the same way."""
    own = [
        Document("The harbour ferry Wilma ran aground on Tuesday near the Skarv lighthouse, the coast guard said.",
                 metadata={"source": "Own Desk", "title": "Ferry runs aground", "published_at": "2025-03-04"}),
        Document("The city library extended its opening hours.", metadata={"title": "Library hours"}),
    ]
    out = answer_chain(assistant=bot).invoke({"question": "When did the ferry Wilma run aground?", "as_of": AS_OF,
                                              "context": own})
    assert out.answered and out.answer.startswith("On Tuesday 4 March 2025 [1]")
    assert out.citations[0].source == "Own Desk" and out.citations[0].quote in own[0].page_content
    # nothing relevant among the documents: no answer, never one from the index
    none = answer_chain(assistant=bot).invoke({"question": QUESTION, "as_of": AS_OF, "context": own[1:]})
    assert not none.answered and not none.citations


def test_a_bad_chain_input_is_one_error_naming_its_field(bot):
    """An `as_of` given as a number (20250310) raised "unsupported operand type(s) for +: 'int' and
    'datetime.timedelta'" from deep in the date rules, 'yesterday' a ValueError naming no field, and
    `context` of plain strings an AttributeError ("'str' object has no attribute 'metadata'"), not
    an error a bot author can act on. A since after the until in QARetriever was an empty list."""
    chain = answer_chain(assistant=bot)
    for as_of in (20250310, 2025.3, ["2025-03-10"], "yesterday", "2025-13"):
        with pytest.raises((TypeError, ValueError), match="as_of") as caught:
            chain.invoke({"question": QUESTION, "as_of": as_of})
        assert "\n" not in str(caught.value)
    with pytest.raises(TypeError, match="context"):
        chain.invoke({"question": QUESTION, "context": ["plain text, not a Document"]})
    with pytest.raises(ValueError, match="no day is in that range"):
        QARetriever(assistant=bot, since=date(2025, 3, 5), until=date(2025, 3, 1))
    # the forms that are dates still are
    assert chain.invoke({"question": QUESTION, "as_of": "2025-03-10"}).answered
    assert chain.invoke({"question": QUESTION, "as_of": AS_OF}).answered
