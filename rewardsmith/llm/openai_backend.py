"""The ``openai`` backend: any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp,
LM Studio) through the official client.

- ``n`` samples in one request; when the server ignores ``n`` (returns fewer choices) or
  rejects it, the rest come from parallel single requests, and later calls go straight there.
- Retries with exponential backoff and jitter on 429, 5xx, timeouts and connection errors only;
  the client's own retries are off so that there is one policy.
- Every other failure is one :class:`LLMError` sentence with a hint.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from rewardsmith.llm.base import DEFAULT_OPENAI_MODEL, Completion, DesignContext, LLMError, Usage

OPENAI_URL = "https://api.openai.com/v1"
LOCAL_KEY = "not-needed"  # local servers want some key in the header, not a real one

# USD per 1M tokens (input, output), OpenAI list prices. Unknown models (local ones) cost None.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

_N_REJECTED = re.compile(r"(\bn\b|['\"`]n['\"`]|\bchoices?\b|multiple (completions|samples))", re.I)
_TEMPERATURE_REJECTED = re.compile(r"temperature", re.I)


def price(model: str) -> tuple[float, float] | None:
    """The price of ``model``, matching dated snapshots (``gpt-4o-2024-08-06``) to their family."""
    best = None
    for name, p in PRICES.items():
        if (model == name or model.startswith(name + "-")) and (best is None or len(name) > len(best[0])):
            best = (name, p)
    return best[1] if best else None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    p = price(model)
    if p is None:
        return None
    return (prompt_tokens * p[0] + completion_tokens * p[1]) / 1e6


class _Retryable(Exception):
    def __init__(self, what: str, retry_after: float | None = None):
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


class OpenAIBackend:
    """``complete()`` against an OpenAI-compatible server."""

    uses_context = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 300.0, max_retries: int = 5, backoff_s: float = 1.0,
                 backoff_max_s: float = 60.0, parallel: int = 8, max_tokens: int | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        env_url = os.environ.get("OPENAI_BASE_URL") or None
        self.base_url = (base_url or env_url or OPENAI_URL).rstrip("/")
        custom = self.base_url != OPENAI_URL
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if key is None:
            if not custom:
                raise LLMError(
                    "no OpenAI API key is configured",
                    "set OPENAI_API_KEY, point OPENAI_BASE_URL (or --base-url) at a local "
                    "OpenAI-compatible server, or use --llm offline",
                )
            key = LOCAL_KEY
        self.priced = urlparse(self.base_url).hostname == "api.openai.com"
        self.prices_known = self.priced and price(model) is not None
        # the same model name on two servers is two models: the cache keeps them apart
        self.cache_identity = f"{self.name}@{self.base_url}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.parallel = max(1, parallel)
        self.max_tokens = max_tokens
        self._sleep = sleep
        self._lock = threading.Lock()
        self.n_supported: bool | None = None  # learnt from the server
        self.temperature_supported = True
        self.requests_sent = 0
        self.client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0)

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------------ public
    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion:
        if n < 1:
            raise ValueError("n must be at least 1")
        texts: list[str] = []
        usage = Usage(0, 0, 0.0 if self.priced else None)
        model = self.model
        if n == 1 or self.n_supported is not False:
            try:
                got, u, model = self._request(messages, n, temperature)
                texts += got
                usage += u
                if n > 1 and len(got) < n:
                    self.n_supported = False  # the server ignores n
                elif n > 1:
                    self.n_supported = True
            except LLMError as e:
                if n > 1 and getattr(e, "status", None) == 400 and _N_REJECTED.search(e.message):
                    self.n_supported = False  # the server rejects n > 1
                else:
                    raise
        missing = n - len(texts)
        if missing > 0:
            with ThreadPoolExecutor(max_workers=min(missing, self.parallel)) as pool:
                results = list(pool.map(lambda _: self._request(messages, 1, temperature), range(missing)))
            for got, u, answered_by in results:
                texts += got[:1]
                usage += u
                model = answered_by
        return Completion(texts=texts[:n], usage=usage, model=model)

    # ----------------------------------------------------------------------- one call
    def _request(self, messages: list[dict], n: int, temperature: float) -> tuple[list[str], Usage, str]:
        attempt = 0
        while True:
            try:
                return self._once(messages, n, temperature)
            except _Retryable as e:
                if attempt >= self.max_retries:
                    raise self._gave_up(e, attempt + 1) from None
                delay = min(self.backoff_max_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random())
                if e.retry_after is not None:
                    delay = max(delay, min(e.retry_after, self.backoff_max_s))
                self._sleep(delay)
                attempt += 1

    def _once(self, messages: list[dict], n: int, temperature: float) -> tuple[list[str], Usage, str]:
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if n > 1:
            kwargs["n"] = n
        if self.temperature_supported:
            kwargs["temperature"] = temperature
        if self.max_tokens:
            kwargs["max_tokens"] = self.max_tokens
        with self._lock:
            self.requests_sent += 1
        try:
            resp = self.client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {self.timeout:g} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable(_connection_reason(e)) from None
        except openai.APIStatusError as e:
            status = e.status_code
            detail = _detail(e)
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status}: {detail}", _retry_after(e)) from None
            if status == 400 and _TEMPERATURE_REJECTED.search(detail) and self.temperature_supported \
                    and "temperature" in kwargs:
                self.temperature_supported = False  # reasoning models accept only the default
                return self._once(messages, n, temperature)
            raise self._status_error(status, detail) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError) as e:
            raise LLMError(f"the server at {self.base_url} sent a malformed response "
                           f"({type(e).__name__}: {str(e)[:120]})",
                           "check that the URL points at an OpenAI-compatible /v1 endpoint") from None
        return self._parse(resp)

    def _parse(self, resp: Any) -> tuple[list[str], Usage, str]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise LLMError(f"the server at {self.base_url} sent a malformed response (no choices)",
                           "check that the URL points at an OpenAI-compatible /v1 endpoint")
        texts = []
        for c in choices:
            msg = getattr(c, "message", None)
            content = getattr(msg, "content", None)
            if content is None and isinstance(c, dict):
                content = (c.get("message") or {}).get("content")
            texts.append(content if isinstance(content, str) else "")
        u = getattr(resp, "usage", None)
        pt = int(getattr(u, "prompt_tokens", 0) or 0)
        ct = int(getattr(u, "completion_tokens", 0) or 0)
        model = getattr(resp, "model", None) or self.model
        cost = cost_usd(self.model, pt, ct) if self.priced else None
        return texts, Usage(pt, ct, cost), str(model)

    # -------------------------------------------------------------------- messages
    def _status_error(self, status: int, detail: str) -> LLMError:
        if status == 401:
            err = LLMError(f"the server at {self.base_url} rejected the API key (401): {detail}",
                           "set OPENAI_API_KEY (or --api-key) to a valid key")
        elif status == 403:
            err = LLMError(f"the server at {self.base_url} refused access to {self.model!r} (403): {detail}",
                           "check that your key may use this model")
        elif status == 404:
            models = self._list_models()
            hint = (f"models this server offers: {', '.join(models[:15])}" if models else
                    "check the model name in --llm openai:MODEL, and that the base URL ends in /v1")
            err = LLMError(f"model {self.model!r} was not found at {self.base_url} (404): {detail}", hint)
        else:
            err = LLMError(f"the server at {self.base_url} refused the request ({status}): {detail}",
                           "check the model and the request settings")
        err.status = status  # type: ignore[attr-defined]
        return err

    def _gave_up(self, e: _Retryable, attempts: int) -> LLMError:
        if "connect" in e.what or "refused" in e.what:
            return LLMError(f"cannot reach the LLM server at {self.base_url}: {e.what} "
                            f"({attempts} attempts)",
                            "start the server, or fix OPENAI_BASE_URL / --base-url")
        return LLMError(f"the LLM server at {self.base_url} kept failing: {e.what} ({attempts} attempts)",
                        "try again later, or raise the timeout for slow local models")

    def _list_models(self) -> list[str]:
        try:
            return sorted(m.id for m in self.client.models.list(timeout=min(self.timeout, 10.0)))
        except Exception:  # noqa: BLE001 - only for a nicer message
            return []


def _detail(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg)[:300]
    return str(getattr(e, "message", e))[:300]


def _retry_after(e: Any) -> float | None:
    try:
        return float(e.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None


def _connection_reason(e: Exception) -> str:
    cause = e.__cause__ or e.__context__
    text = f"{e} {cause or ''}".lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "connection failed: the host name does not resolve"
    return f"connection failed ({str(cause or e)[:100]})"


def factory(model: str | None, *, base_url: str | None = None, api_key: str | None = None,
            run_dir: Any = None, **settings: Any) -> OpenAIBackend:
    return OpenAIBackend(model or os.environ.get("REWARDSMITH_MODEL") or DEFAULT_OPENAI_MODEL,
                         base_url=base_url, api_key=api_key, **settings)
