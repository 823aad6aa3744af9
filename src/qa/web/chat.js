// qa web chat: streams /v1/chat/completions (SSE) and shows numbered, clickable sources.
"use strict";
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const asOf = document.getElementById("as-of");
let messages = [];
let turnCount = 0;

const params = new URLSearchParams(location.search);
if (params.get("as_of")) asOf.value = params.get("as_of");
const apiKey = params.get("key") || localStorage.getItem("qa-api-key") || "";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// The server escapes markdown in answers (its words are quoted from articles); shown as text here,
// read as markdown reads a backslash escape (CommonMark: any ASCII punctuation may be escaped).
function unescapeMarkdown(text) {
  return text.replace(/\\([!-\/:-@\[-`{-~])/g, "$1");
}

// Answer text with [n] markers turned into links to source n of this turn.
function renderAnswer(node, text, turn) {
  node.textContent = "";
  const parts = text.split(/(\[\d+\])/g);
  for (const part of parts) {
    const m = part.match(/^\[(\d+)\]$/);
    if (m) {
      const a = el("a", "cite", part);
      a.href = `#t${turn}-s${m[1]}`;
      a.addEventListener("click", () => {
        const li = document.getElementById(`t${turn}-s${m[1]}`);
        if (li) { li.classList.add("flash"); setTimeout(() => li.classList.remove("flash"), 1200); }
      });
      node.appendChild(a);
    } else {
      node.appendChild(document.createTextNode(unescapeMarkdown(part)));
    }
  }
}

// Article URLs come from untrusted input: only absolute http(s) URLs become links (as qa.links.safe_url).
function safeUrl(url) {
  if (typeof url !== "string" || !url || url.length > 2048 || /[\s\x00-\x1f\x7f]/.test(url)) return "";
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname ? u.href : "";
  } catch (e) {
    return "";
  }
}

// A quote with the short answer's span (offsets in the article, inside the quote) highlighted.
function renderQuote(c, short) {
  const q = el("blockquote", "quote");
  const from = short ? short.start - c.start : -1;
  const to = short ? short.end - c.start : -1;
  if (short && short.n === c.n && from >= 0 && to > from && to <= c.quote.length) {
    q.append(document.createTextNode(`“${c.quote.slice(0, from)}`), el("mark", "short", c.quote.slice(from, to)),
      document.createTextNode(`${c.quote.slice(to)}”`));
  } else {
    q.textContent = `“${c.quote}”`;
  }
  return q;
}

function renderSources(list, citations, turn, short) {
  for (const c of citations) {
    const li = el("li");
    li.id = `t${turn}-s${c.n}`;
    li.appendChild(el("span", "n", `[${c.n}]`));
    const url = safeUrl(c.url);
    const title = url ? el("a", "title", c.title || "untitled") : el("span", "title", c.title || "untitled");
    if (url) { title.href = url; title.target = "_blank"; title.rel = "noopener noreferrer"; }
    li.appendChild(title);
    li.appendChild(el("span", "meta", ` — ${c.source || "unknown source"}, ${c.published_at || "date unknown"}`));
    li.appendChild(renderQuote(c, short));
    list.appendChild(li);
  }
}

async function ask(question) {
  const turn = ++turnCount;
  const box = el("section", "turn");
  box.appendChild(el("div", "q", question));
  const rewritten = el("div", "rewritten");
  const answer = el("div", "a pending");
  const sources = el("ol", "sources");
  box.append(rewritten, answer, sources);
  log.appendChild(box);
  box.scrollIntoView({ block: "end" });
  messages.push({ role: "user", content: question });
  const body = { model: "qa", stream: true, messages };
  if (asOf.value) body.as_of = asOf.value;
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  let text = "";
  let final = null;
  try {
    const resp = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
    if (!resp.ok) {
      const err = await resp.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || `HTTP ${resp.status}`);
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut).trim();
        buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);  // e.g. the LLM refused the key
        // the server streams verified text only: what is shown is never taken back
        const delta = chunk.choices[0].delta || {};
        if (delta.content) {
          text += delta.content;
          renderAnswer(answer, text.split("\n\nSources:")[0], turn);
        }
        if (chunk.citations) final = chunk;
      }
    }
  } catch (e) {
    answer.classList.remove("pending");
    answer.appendChild(el("div", "error", `Error: ${e.message}`));
    messages.pop();
    return;
  }
  answer.classList.remove("pending");
  const shown = text.split("\n\nSources:")[0];
  renderAnswer(answer, shown, turn);
  if (final) {
    if (final.qa && final.qa.question && final.qa.question !== question) {
      rewritten.textContent = `(asked as: ${final.qa.question})`;
    }
    const details = final.qa || {};
    // the reader's reason before quoted sentences; a generated answer is not introduced as sentences
    if (!details.short_answer && details.short_answer_reason && details.backend === "extractive" && final.citations.length) {
      answer.prepend(el("div", "no-short", `(${details.short_answer_reason}; the sentences that may answer:)`));
    }
    renderSources(sources, final.citations, turn, details.short_answer);
  }
  messages.push({ role: "assistant", content: text });
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = input.value.trim();
  if (!q) return;
  input.value = "";
  send.disabled = true;
  try { await ask(q); } finally { send.disabled = false; input.focus(); }
});
document.getElementById("reset").addEventListener("click", () => {
  messages = []; log.textContent = ""; input.focus();
});
