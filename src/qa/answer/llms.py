"""Backend strings → LangChain chat models.

    extractive        no LLM (the default)
    openai:MODEL      any OpenAI-compatible endpoint (OpenAI, vLLM, LM Studio, llama.cpp server)
    ollama:MODEL      an Ollama server (its OpenAI-compatible /v1 endpoint at QA_OLLAMA_HOST)
    gguf:PATH         a local GGUF file, served in-process on a loopback port (needs xllamacpp)
"""

from __future__ import annotations

import atexit
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError, UsageError
from qa.settings import LLMSettings

Factory = Callable[[str, "LLMSettings"], Any]
BACKENDS: dict[str, Factory] = {}
"""Backend kind → factory(model, settings) of a LangChain chat model: a new backend is one entry."""


def backend(kind: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        BACKENDS[kind] = factory
        return factory

    return register


@dataclass(frozen=True)
class Backend:
    kind: str
    model: str = ""

    @property
    def label(self) -> str:
        return self.kind if self.kind == "extractive" else f"{self.kind}:{self.model}"


def parse_backend(spec: str) -> Backend:
    spec = spec.strip()
    if spec in ("", "extractive"):
        return Backend("extractive")
    kind, sep, model = spec.partition(":")
    if not sep or kind not in BACKENDS or not model:
        kinds = ", ".join(f"{k}:{'PATH' if k == 'gguf' else 'MODEL'}" for k in BACKENDS)
        raise UsageError(f"--llm / QA_LLM: {spec!r} is not a backend (use extractive, {kinds})")
    return Backend(kind, model)


def chat_model(backend: Backend, settings: LLMSettings) -> Any:
    """A LangChain chat model for the backend, with timeouts and bounded retries."""
    factory = BACKENDS.get(backend.kind)
    if factory is None:
        raise UsageError(f"backend {backend.label} has no chat model")
    return factory(backend.model, settings)


def _openai_compatible(settings: LLMSettings, **kwargs: Any) -> Any:
    """ChatOpenAI with qa's limits: every backend speaks the OpenAI protocol."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        **kwargs,
    )


@backend("openai")
def _openai(model: str, settings: LLMSettings) -> Any:
    base_url = settings.llm_base_url
    api_key = settings.llm_api_key or ("not-needed" if base_url else None)
    if api_key is None:
        raise UsageError("openai backend needs QA_LLM_API_KEY (or OPENAI_API_KEY), or a --base-url")
    return _openai_compatible(settings, model=model, base_url=base_url, api_key=api_key, stream_usage=True)


@backend("ollama")
def _ollama(model: str, settings: LLMSettings) -> Any:
    return _openai_compatible(settings, model=model, base_url=settings.ollama_host.rstrip("/") + "/v1", api_key="ollama")


@backend("gguf")
def _gguf(model: str, settings: LLMSettings) -> Any:
    url = local_gguf_server(Path(model))
    return _openai_compatible(settings, model="local", base_url=url, api_key="not-needed", stream_usage=True)


_servers: dict[str, tuple[Any, str]] = {}
_servers_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_llama_server(gguf: Path, port: int, *, alias: str = "local", n_ctx: int = 4096) -> Any:
    """A llama.cpp server (xllamacpp) for ``gguf`` on 127.0.0.1:``port``, in this process."""
    try:
        import xllamacpp
    except ImportError:
        raise QAError("gguf backend needs the optional extra: pip install 'qa[gguf]' (xllamacpp)") from None
    if not gguf.is_file():
        raise UsageError(f"gguf:{gguf}: no such model file")
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.model_alias = {alias}
    return xllamacpp.Server(params)


def local_gguf_server(gguf: Path) -> str:
    """Base URL of an in-process llama.cpp server for ``gguf`` (started once per process)."""
    key = str(gguf.resolve())
    with _servers_lock:
        if key not in _servers:
            port = free_port()
            server = start_llama_server(gguf, port)
            _servers[key] = (server, f"http://127.0.0.1:{port}/v1")
            atexit.register(_servers.clear)
        return _servers[key][1]
