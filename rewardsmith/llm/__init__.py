"""LLM backends (``openai``, ``offline``, ``manual``), the response cache, prompts and extraction.

The loop's entry points::

    from rewardsmith.llm import make_llm, DesignContext, CandidateFeedback, extract_code, prompts

Imports flow one way: ``base`` (the contract) <- the backends and ``cache`` <- ``registry``
(the built-in backends by name, ``make_llm``) <- this package.
"""

from rewardsmith.llm.base import (
    LLM,
    REGISTRY,
    CandidateFeedback,
    Completion,
    DesignContext,
    LLMError,
    Usage,
    register,
    request_key,
)
from rewardsmith.llm.extract import ExtractionError, extract_code
from rewardsmith.llm.registry import default_spec, make_llm, run_llm

__all__ = [
    "LLM", "REGISTRY", "CandidateFeedback", "Completion", "DesignContext", "ExtractionError",
    "LLMError", "Usage", "default_spec", "extract_code", "make_llm", "register", "request_key", "run_llm",
]
