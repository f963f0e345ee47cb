"""The LLM registry and factory, the response cache, and the prompt templates."""

from __future__ import annotations

import pytest

from rewardsmith import tasks
from rewardsmith.llm import (
    Completion,
    DesignContext,
    LLMError,
    Usage,
    default_spec,
    make_llm,
    prompts,
    request_key,
)
from rewardsmith.llm.cache import CachedLLM, default_cache_dir

MESSAGES = [{"role": "user", "content": "hi"}]


class Counting:
    name = "counting"
    uses_context = False

    def __init__(self):
        self.calls = 0

    def complete(self, messages, n, temperature, context=None):
        self.calls += 1
        return Completion([f"answer {self.calls}.{i}" for i in range(n)], Usage(5, 7, 0.01), "m")


def test_default_spec(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REWARDSMITH_MODEL"):
        monkeypatch.delenv(var, raising=False)
    assert default_spec() == "offline"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    assert default_spec() == "openai:gpt-4o-mini"
    monkeypatch.setenv("REWARDSMITH_MODEL", "qwen2.5-coder")
    assert default_spec() == "openai:qwen2.5-coder"
    assert make_llm(None, cache=False).name == "openai:qwen2.5-coder"
    assert make_llm("openai:llama3", cache=False).name == "openai:llama3"


def test_unknown_backend_lists_what_exists():
    with pytest.raises(LLMError) as e:
        make_llm("anthropic:claude", cache=False)
    assert "manual" in str(e.value) and "offline" in str(e.value) and "openai" in str(e.value)


def test_cache_hits_and_keys(tmp_path):
    inner = Counting()
    llm = CachedLLM(inner, tmp_path)
    a = llm.complete(MESSAGES, 2, 1.0)
    b = llm.complete(MESSAGES, 2, 1.0)
    assert inner.calls == 1 and b.cached and b.texts == a.texts and b.usage.cost_usd == 0.0
    llm.complete(MESSAGES, 3, 1.0)
    llm.complete(MESSAGES, 2, 0.5)
    llm.complete([{"role": "user", "content": "hi!"}], 2, 1.0)
    assert inner.calls == 4
    # a torn entry is asked again
    path = llm.path(llm.key(MESSAGES, 2, 1.0))
    path.write_text('{"texts": ["x"')
    assert not llm.complete(MESSAGES, 2, 1.0).cached and inner.calls == 5


def test_offline_cache_key_covers_the_context(tmp_path):
    llm = make_llm("offline", cache_dir=tmp_path)
    task = tasks.load("pendulum-balance-v0")
    ctx = DesignContext.from_task(task)
    msgs = prompts.initial_messages(task)
    first = llm.complete(msgs, 2, 1.0, context=ctx)
    assert not first.cached and llm.complete(msgs, 2, 1.0, context=ctx).cached
    ctx.iteration = 1
    assert not llm.complete(msgs, 2, 1.0, context=ctx).cached
    assert request_key("offline", msgs, 2, 1.0, ctx) != request_key("offline", msgs, 2, 1.0)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "llm"
    monkeypatch.delenv("REWARDSMITH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir().parts[-3:] == (".cache", "rewardsmith", "llm")
    # one cache folder for every part: XDG_CACHE_HOME is honoured everywhere
    from rewardsmith.loop.evaluate import cache_dir as evaluations
    from rewardsmith.paths import cache_dir
    from rewardsmith.sandbox.dryrun import cache_dir as transitions

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rewardsmith" / "llm"
    assert transitions() == cache_dir("transitions") == tmp_path / "xdg" / "rewardsmith" / "transitions"
    assert evaluations() == tmp_path / "xdg" / "rewardsmith"


def test_templates_render_and_name_missing_variables():
    for name in prompts.templates_used():
        assert prompts.template_path(name).is_file()
    assert prompts.template_path("reflection") == prompts.template_path("reflection_v3")
    with pytest.raises(prompts.PromptError, match="best_source, reflection"):
        prompts.render("reflection_v1")  # kept: runs made with it render the same text
    with pytest.raises(prompts.PromptError, match="best_id, best_source, iteration, reflection"):
        prompts.render("reflection_v2")
    with pytest.raises(prompts.PromptError, match="unknown prompt template"):
        prompts.template_path("nonexistent_v1")
    assert set(prompts.template_fingerprints()) == set(prompts.TEMPLATES_USED)


def test_message_builders():
    task = tasks.load("hopper-forward-v0")
    msgs = prompts.initial_messages(task)
    assert [m["role"] for m in msgs] == ["system", "user"]
    system, user = msgs[0]["content"], msgs[1]["content"]
    for rule in ("np", "batch", "import", "underscore", "while", "try", "named variables", "components"):
        assert rule in system
    assert task.llm_context().strip()[:40] in user and "rootx_vel" in user and "```python" in user
    src = "def compute_reward(state, action, next_state):\n    return 0.0, {}\n"
    r = prompts.reflection_message("1-2", src, "fitness 0.3; episodes short", "- 1-3: rejected")
    assert src.strip() in r and "episodes short" in r and "swamps" in r and "- 1-3: rejected" in r
    assert r.count(src.strip()) == 1 and "1-2" in r
    e = prompts.error_message(src, "line 2: remove the import")
    assert "remove the import" in e and src.strip() in e
    h = prompts.human_message(src, src.replace("0.0", "1.0"), "too jerky")
    assert "too jerky" in h and "1.0" in h
    assert "$" not in r + e + h
    assert prompts.feedback_messages(task, r)[-1] == {"role": "user", "content": r}


def test_nested_caches_still_key_on_the_offline_context(tmp_path):
    from rewardsmith.llm.offline import OfflineDesigner

    task = tasks.load("pendulum-balance-v0")
    msgs = prompts.initial_messages(task)
    llm = CachedLLM(CachedLLM(OfflineDesigner(), tmp_path / "a"), tmp_path / "b")
    assert llm.uses_context
    ctx = DesignContext.from_task(task)
    llm.complete(msgs, 1, 1.0, context=ctx)
    ctx.iteration = 3
    assert not llm.complete(msgs, 1, 1.0, context=ctx).cached


@pytest.mark.parametrize("name, facts", [
    ("hopper-forward-v0", ["`next_state.torso_pos[:, 2]`", "1000 steps (8 s)", "(0.7, inf)",
                           "(-0.2, 0.2) rad", "not the robot's x position", "100,000 env steps",
                           "gamma 0.99", "VecNormalize"]),
    ("ant-forward-v0", ["50 s", "(0.2, 1.0) m", "x and y position", "150,000 env steps"]),
    ("cheetah-run-v0", ["never ends an episode early"]),
    ("pendulum-balance-v0", ["tilts more than 0.2 rad", "gamma 0.98", "20,000 env steps"]),
])
def test_the_initial_prompt_says_how_rewards_are_trained_and_what_the_policy_sees(name, facts):
    task = tasks.load(name)
    user = prompts.initial_messages(task)[1]["content"]
    for fact in facts:
        assert fact in user, fact
    # the budget of the run, not the task's default, where the run sets one
    assert "30,000 env steps" in prompts.initial_messages(task, "sb3", 30_000)[1]["content"]
    # and it stays compact: the whole first request for Ant is under 5k tokens (~4 chars each)
    if name == "ant-forward-v0":
        assert sum(len(m["content"]) for m in prompts.initial_messages(task)) < 4 * 5000
