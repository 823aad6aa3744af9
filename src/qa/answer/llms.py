"""Backend strings → LangChain chat models.

    extractive        no LLM (the default)
    openai:MODEL      any OpenAI-compatible endpoint (OpenAI, vLLM, LM Studio, llama.cpp server)
    ollama:MODEL      an Ollama server (its OpenAI-compatible /v1 endpoint at QA_OLLAMA_HOST)
    gguf:PATH         a local GGUF file, served in-process on a loopback port (needs xllamacpp)
    langchain:NAME    a LangChain chat model object handed over in Python
                      (``Assistant.open(chat_model=...)``, registered by ``register_chat_model``)
"""

from __future__ import annotations

import atexit
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError, UsageError, model_public
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
        kinds = ", ".join(f"{k}:{'PATH' if k == 'gguf' else 'MODEL'}" for k in BACKENDS if k != OBJECT_KIND)
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


OBJECT_KIND = "langchain"
_objects: dict[str, Any] = {}
_objects_lock = threading.Lock()


def register_chat_model(model: Any) -> str:
    """The backend string (``langchain:NAME``) for a caller's own LangChain chat model object,
    which then answers like any other backend (same prompt, verification and fallback). NAME is
    the model's own ``model_name``/``model`` or its class name, numbered when another object has
    it. The object is kept for the life of the process."""
    from langchain_core.language_models import BaseChatModel

    if not isinstance(model, BaseChatModel):
        raise UsageError(f"chat_model: {type(model).__name__} is not a LangChain chat model (BaseChatModel)")
    base = next((str(v) for v in (getattr(model, "model_name", None), getattr(model, "model", None)) if isinstance(v, str) and v),
                type(model).__name__)
    base = "".join(ch if ch.isalnum() or ch in "._-/" else "_" for ch in base)[:80]
    with _objects_lock:
        for name, known in _objects.items():
            if known is model:
                return f"{OBJECT_KIND}:{name}"
        name, n = base, 1
        while name in _objects:
            n += 1
            name = f"{base}#{n}"
        _objects[name] = model
    return f"{OBJECT_KIND}:{name}"


@backend(OBJECT_KIND)
def _langchain_object(name: str, settings: LLMSettings) -> Any:
    with _objects_lock:
        model = _objects.get(name)
    if model is None:
        raise UsageError(f"{OBJECT_KIND}:{name}: no such chat model object (pass it as Assistant.open(chat_model=...))")
    return model


def is_foreign(backend_label: str) -> bool:
    """Whether the backend is a caller's own object, whose failures qa cannot classify: any
    exception it raises ends generation and falls back, as a broken stream does."""
    return backend_label.split(":", 1)[0] == OBJECT_KIND


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
        raise UsageError(f"gguf:{gguf}: no such model file", public=model_public("gguf model file", "is not installed"))
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
