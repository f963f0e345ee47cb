"""The response cache: an answer is stored under the sha256 of its full request, so a resumed
or repeated run never asks (or pays) twice."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from rewardsmith.llm.base import LLM, Completion, DesignContext, Usage, request_key
from rewardsmith.runs.files import atomic_write_json


def default_cache_dir() -> Path:
    from rewardsmith.paths import cache_dir

    return cache_dir("llm")


class CachedLLM:
    """Wraps any backend. A hit returns ``cached=True`` with zero cost and never calls ``inner``.

    The key covers the backend's identity (its name, which includes the model, and for a server
    its URL: ``inner.cache_identity``), the messages, ``n``, the temperature and the design
    iteration (``context.iteration``): an iteration that sends the same text as an earlier one
    asks afresh, while a repeated run is answered from the cache, iteration by iteration. For
    backends that read the design context (``inner.uses_context``, the offline designer) the
    key covers the whole context.
    """

    def __init__(self, inner: LLM, cache_dir: str | Path | None = None, *,
                 report_paid: bool = False):
        """``report_paid``: a hit says what the answer cost when it was asked (``paid``). Only a
        run's own cache does: what it holds, that run paid for."""
        self.inner = inner
        self.report_paid = report_paid
        self.name = inner.name
        # forwarded through wrappers
        self.uses_context = bool(getattr(inner, "uses_context", False))
        self.prices_known = bool(getattr(inner, "prices_known", True))
        self.cache_identity = str(getattr(inner, "cache_identity", inner.name))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def key(self, messages: list[dict], n: int, temperature: float,
            context: DesignContext | None = None) -> str:
        ctx = context if self.uses_context else None
        return request_key(self.cache_identity, messages, n, temperature, ctx,
                           iteration=context.iteration if context is not None else None)

    def path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def lookup(self, key: str, n: int) -> Completion | None:
        try:
            entry = json.loads(self.path(key).read_text())
            texts = entry["texts"]
            if not (isinstance(texts, list) and len(texts) == n and all(isinstance(t, str) for t in texts)):
                return None
            paid = entry.get("usage") if self.report_paid else None
            return Completion(texts=texts, usage=Usage(0, 0, 0.0), model=entry.get("model", self.name),
                              cached=True, paid=Usage(**paid) if isinstance(paid, dict) else None)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or torn entry: ask again and overwrite it

    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion:
        key = self.key(messages, n, temperature, context)
        hit = self.lookup(key, n)
        if hit is not None:
            return hit
        out = self.inner.complete(messages, n, temperature, context=context)
        out.paid = None  # a hit further in (another run's answer) cost this run nothing
        atomic_write_json(self.path(key), {
            "key": key,
            "backend": self.inner.name,
            "model": out.model,
            "n": n,
            "temperature": temperature,
            "messages": messages,
            "texts": out.texts,
            "usage": asdict(out.usage),
            "created": time.time(),
        })
        return out

    def __repr__(self) -> str:
        return f"CachedLLM({self.inner!r}, {str(self.cache_dir)!r})"
