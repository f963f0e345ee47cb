"""Making a backend by name: the built-in backends in the registry, the default, and ``make_llm``.

This module sits above the backends: it imports them (each only when it is first made) and the
response cache, while the backends and the cache import only the contract in
:mod:`rewardsmith.llm.base`. Other backends are added with ``register(name, factory)``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from rewardsmith.errors import UnknownName
from rewardsmith.llm.base import DEFAULT_OPENAI_MODEL, LLM, REGISTRY, LLMError, LLMFactory, register

# name -> the module whose ``factory`` makes it; a module is imported when its backend is made
# (offline pulls in numpy, openai the HTTP client).
BUILTIN: dict[str, str] = {
    "manual": "rewardsmith.llm.manual",
    "offline": "rewardsmith.llm.offline",
    "openai": "rewardsmith.llm.openai_backend",
}


def _builtin(module: str) -> LLMFactory:
    def factory(model: str | None = None, **settings: Any) -> LLM:
        return importlib.import_module(module).factory(model, **settings)

    return factory


for _name, _module in BUILTIN.items():
    register(_name, _builtin(_module))


def default_spec() -> str:
    """``openai:<model>`` when a key or base URL is configured, else ``offline``."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return f"openai:{os.environ.get('REWARDSMITH_MODEL') or DEFAULT_OPENAI_MODEL}"
    return "offline"


def make_llm(spec: str | None, *, base_url: str | None = None, api_key: str | None = None,
             run_dir: str | Path | None = None, cache_dir: str | Path | None = None,
             cache: bool = True, **settings: Any) -> LLM:
    """Make the backend named by ``spec`` ("openai:MODEL", "offline", "manual"; None: default).

    The result is wrapped in the response cache unless ``cache=False``; ``settings`` go to the
    backend (``timeout``, ``max_retries`` for openai; ``timeout``, ``poll_s`` for manual).
    """
    spec = (spec or default_spec()).strip()
    name, _, arg = spec.partition(":")
    if name == "openai" and not arg:
        arg = os.environ.get("REWARDSMITH_MODEL") or DEFAULT_OPENAI_MODEL
    try:
        factory = REGISTRY.load(name)
    except UnknownName as e:
        raise LLMError(e.message, "use --llm openai:MODEL, --llm offline or --llm manual") from None
    llm = factory(arg or None, base_url=base_url, api_key=api_key, run_dir=run_dir, **settings)
    if cache:
        from rewardsmith.llm.cache import CachedLLM

        llm = CachedLLM(llm, cache_dir)
    return llm


def run_llm(spec: str | None, run_dir: str | Path, *, base_url: str | None = None,
            api_key: str | None = None, shared_cache: bool = True) -> LLM:
    """The designer of one design run: the backend named by ``spec``, behind the shared response
    cache (unless ``shared_cache`` is False: repeated runs then ask afresh, as independent
    repeats must) and the run's own cache (``<run_dir>/llm/cache``), which makes ``--resume``
    free even when the shared cache is cleared."""
    from rewardsmith.llm.cache import CachedLLM

    inner = make_llm(spec, base_url=base_url, api_key=api_key, run_dir=run_dir, cache=False)
    if shared_cache:
        inner = CachedLLM(inner, None)  # ~/.cache/rewardsmith: repeated runs pay nothing twice
    return CachedLLM(inner, Path(run_dir) / "llm" / "cache", report_paid=True)
