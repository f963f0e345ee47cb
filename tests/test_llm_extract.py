"""Code extraction from realistic LLM answers."""

from __future__ import annotations

import ast

import pytest

from rewardsmith.llm.extract import ExtractionError, extract_code
from rewardsmith.rules.static import check_source

BODY = '''def compute_reward(state, action, next_state):
    forward_weight = 1.0
    ctrl_weight = 0.01
    forward = forward_weight * next_state.rootx_vel
    ctrl = -ctrl_weight * np.sum(np.square(action), axis=-1)
    return forward + ctrl, {"forward": forward, "ctrl": ctrl}
'''


def functions(code: str) -> list[str]:
    return [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]


def test_prose_around_one_block():
    text = f"Here is a reward that favours forward motion.\n\n```python\n{BODY}```\n\nThis should work well."
    code = extract_code(text)
    assert code == BODY
    assert not check_source(code)


@pytest.mark.parametrize("fence", ["```py", "```python", "```Python", "```", "~~~python", "````python"])
def test_fence_styles(fence):
    close = "~~~" if fence.startswith("~") else "`" * (len(fence) - len(fence.lstrip("`")))
    code = extract_code(f"Sure!\n{fence}\n{BODY}{close}\nDone.")
    assert functions(code) == ["compute_reward"]


def test_several_blocks_picks_the_one_with_compute_reward_and_its_helpers():
    text = '''Let me first define a helper for the healthy check:

```python
def is_healthy(z, angle):
    healthy_z = 0.7
    return np.where((z > healthy_z) & (np.abs(angle) < 0.2), 1.0, 0.0)
```

And a helper that is never used:

```python
def unused_helper(x):
    return x * 2.0
```

Example usage (do not include):

```bash
rewardsmith design --task hopper-forward-v0
```

Now the reward:

```python
def compute_reward(state, action, next_state):
    alive_bonus = 1.0
    alive = alive_bonus * is_healthy(next_state.rootz_pos, next_state.rooty_angle)
    return alive, {"alive": alive}
```
'''
    code = extract_code(text)
    assert functions(code) == ["is_healthy", "compute_reward"]
    assert "unused_helper" not in code and "rewardsmith design" not in code
    assert not check_source(code)


def test_helpers_before_compute_reward_in_one_block():
    text = f'''```python
def tolerance(x, margin):
    return np.exp(-np.square(x / margin))


def upright_bonus(state):
    return tolerance(1.0 - state.torso_zaxis[:, 2], 0.3)


{BODY}```'''
    code = extract_code(text)
    assert functions(code) == ["tolerance", "upright_bonus", "compute_reward"]


def test_transitive_helpers_from_other_blocks():
    text = '''```python
def square(x):
    return x * x
```
```python
def speed_term(v):
    return square(v)
```
```python
def compute_reward(state, action, next_state):
    r = speed_term(next_state.rootx_vel)
    return r, {"speed": r}
```'''
    code = extract_code(text)
    assert functions(code) == ["square", "speed_term", "compute_reward"]


def test_last_version_wins_when_the_answer_shows_before_and_after():
    old = BODY.replace("forward_weight = 1.0", "forward_weight = 0.5")
    text = f"The previous reward was:\n```python\n{old}```\nImproved version:\n```python\n{BODY}```"
    assert "forward_weight = 1.0" in extract_code(text)


def test_no_fence_at_all():
    text = f"Here is my reward function:\n\n{BODY}\nIt rewards speed and penalises effort.\n"
    code = extract_code(text)
    assert code.strip() == BODY.strip()


def test_no_fence_with_helper_before():
    text = ("Sure. First a helper, then the function.\n\n"
            "def clip01(x):\n    return np.clip(x, 0.0, 1.0)\n\n" + BODY +
            "\nThe clip keeps terms bounded.")
    code = extract_code(text)
    assert functions(code) == ["clip01", "compute_reward"]


def test_truncated_inside_fence_is_a_clear_error():
    cut = BODY[: BODY.index("ctrl = ")] + "ctrl = -ctrl_weight * np.sum(np.squ"
    with pytest.raises(ExtractionError, match="cut off"):
        extract_code(f"Here you go:\n```python\n{cut}")


def test_truncated_function_without_fence_is_a_clear_error():
    cut = BODY[: BODY.index("return")] + 'return forward + ctrl, {"forward": forw'
    with pytest.raises(ExtractionError, match="cut off"):
        extract_code("Reward:\n\n" + cut)


def test_missing_closing_fence_on_a_complete_program_is_accepted():
    assert extract_code(f"```python\n{BODY}") == BODY


def test_missing_closing_fence_with_prose_after_the_code_is_accepted():
    text = (f"Here is the reward.\n\n```python\n{BODY}\nThis rewards forward speed; "
            "tune ctrl_weight if the gait is jerky.\n")
    assert extract_code(text) == BODY


def test_think_blocks_are_ignored():
    text = ("<think>\nThe user wants a hopper. Maybe:\n```python\ndef compute_reward(state, action, next_state):\n"
            "    return 0.0, {}\n```\nNo, better to use velocity.\n</think>\n\n"
            f"Final answer:\n```python\n{BODY}```")
    assert extract_code(text) == BODY


def test_lone_closing_think_tag():
    text = f"reasoning without an opening tag...\n</think>\n```python\n{BODY}```"
    assert extract_code(text) == BODY


def test_answer_cut_off_while_thinking():
    with pytest.raises(ExtractionError, match="think"):
        extract_code("<think>\nLet me consider the hopper's dynamics. The torso height")


def test_no_code_names_what_it_found():
    with pytest.raises(ExtractionError, match="reward_fn"):
        extract_code("```python\ndef reward_fn(obs, act):\n    return 0.0\n```")
    with pytest.raises(ExtractionError, match="no `def compute_reward"):
        extract_code("I cannot help with that.")
    with pytest.raises(ExtractionError, match="empty"):
        extract_code("   ")


def test_numpy_import_is_dropped_and_indented_block_dedented():
    text = ("1. Define the reward:\n\n    ```python\n    import numpy as np\n\n" +
            "".join("    " + ln + "\n" if ln else "\n" for ln in BODY.splitlines()) + "    ```\n")
    code = extract_code(text)
    assert "import" not in code and not check_source(code)


def test_syntax_error_is_left_for_the_static_checks():
    bad = BODY.replace("forward_weight = 1.0", "forward_weight = = 1.0")
    code = extract_code(f"```python\n{bad}```")
    assert check_source(code)  # the sandbox explains the error line by line


def test_answer_with_other_language_blocks_only_and_a_python_block_last():
    text = f'''The reward uses these fields:
```json
{{"fields": ["rootx_vel"]}}
```
```text
compute_reward is below
```
```python
{BODY}```'''
    assert extract_code(text) == BODY
