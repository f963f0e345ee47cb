"""Layer 1, the static checks: what is accepted, what is rejected, and what the messages say."""

from __future__ import annotations

import ast

import pytest

from rewardsmith.rules import static
from rewardsmith.rules.static import check_source

HELPERS = '''
"""Forward progress with an upright bonus."""
TARGET_HEIGHT = 1.2
WEIGHTS = (1.0, 0.5)


def upright(zaxis, temperature: float = 0.25) -> float:
    return np.exp(-(1.0 - zaxis[:, 2]) / temperature)


def height_term(z, target=TARGET_HEIGHT):
    return -np.square(z - target)


def compute_reward(state, action, next_state):
    forward = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    up = upright(next_state.torso_zaxis)
    h = height_term(next_state.rootz_pos)
    ctrl = 1e-3 * np.sum(action ** 2, axis=-1)
    terms = {"forward": forward, "upright": WEIGHTS[1] * up, "height": h, "ctrl": -ctrl}
    total = 0.0
    for _, v in terms.items():
        total = total + v
    return total, terms
'''

WHERE_TEMPERATURES = '''
def compute_reward(state, action, next_state):
    speed_temp = 0.5
    height_temp = 0.1
    speed = next_state.rootx_vel
    speed_r = np.exp(speed / speed_temp) if False else np.tanh(speed / speed_temp)
    fallen = np.where(next_state.rootz_pos < 0.7, 1.0, 0.0)
    height_r = np.exp(-np.abs(next_state.rootz_pos - 1.25) / height_temp)
    dist = np.linalg.norm(next_state.torso_pos[:, :2] - state.torso_pos[:, :2], axis=-1)
    parts = [speed_r, height_r, -fallen, 0.1 * dist]
    r = np.sum(np.stack(parts), axis=0)
    scale = 2.0 ** -3
    big = 10 ** 6
    best = max(1.0, 2.0)
    return r * scale, {"speed": speed_r, "height": height_r, "fallen": -fallen,
                       "dist": dist * best / big}
'''


@pytest.mark.parametrize("src", [HELPERS, WHERE_TEMPERATURES], ids=["helpers", "where_temps"])
def test_accepted_programs(src):
    assert check_source(src, free_names=()) == []


def test_lenient_names_by_default_for_expressions():
    """tasks.expression_fitness checks expressions over bare field names this way."""
    wrapped = "def compute_reward(state, action, next_state):\n    return torso_pos[:, 2], {}\n"
    assert check_source(wrapped) == []
    strict = check_source(wrapped, free_names=())
    assert len(strict) == 1 and "`torso_pos` is not defined" in strict[0]
    assert check_source(wrapped, free_names=("torso_pos",)) == []


def test_expression_fitness_still_works():
    from rewardsmith.tasks import expression_fitness

    assert callable(expression_fitness("torso_pos[:, 2]"))


CONSTRUCTS = {
    "import os": "remove the import",
    "from math import pi": "remove the import",
    "while True:\n        pass": "replace the `while` loop",
    "global X": "remove `global`",
    "f = lambda x: x": "instead of a lambda",
    "try:\n        pass\n    except Exception:\n        pass": "remove try/except",
    "with np:\n        pass": "remove the `with` block",
    "yield 1": "instead of yielding",
    "g = [x for x in (y for y in range(3))]": "generator expression",
    "match state:\n        case 1:\n            pass": "replace `match`",
    "raise ValueError('x')": "do not raise",
    "assert True": "remove the assert",
    "del state": "remove `del`",
    "s = {1, 2}": "instead of a set",
    "s = {x for x in range(3)}": "set",
    "if (n := 3):\n        pass": "instead of `:=`",
    "s = f'{state}'": "f-string",
    "s = '{}'.format(1)": "`.format` is not allowed",
    "s = '{a}'.format_map({})": "`.format_map` is not allowed",
    "s = state.__class__": "may not start with an underscore",
    "_x = 1": "may not start with an underscore",
    "x = __builtins__": "may not start with an underscore",
    "x = eval('1')": "`eval` is not available",
    "x = open('f')": "`open` is not available",
    "x = getattr(state, 'qpos')": "`getattr` is not available",
    "x = chr(65)": "`chr` is not available",
    "x = globals()": "`globals` is not available",
    "x = vars()": "`vars` is not available",
    "x = type(state)": "`type` is not available",
    "print(1)": "remove print",
    "x = math.sqrt(2)": "use np instead of math",
    "x = setattr": "`setattr` is not available",
    "x = memoryview(b'')": "`memoryview` is not available",
    "x = ascii(1)": "the builtin `ascii` is not available",
    "x = np.random.rand(3)": "`np.random` is not available",
    "x = np.load('f.npy')": "`np.load` is not available: no files",
    "x = np.fromfile('f')": "`np.fromfile` is not available",
    "x = np.memmap('f')": "`np.memmap` is not available",
    "x = np.frompyfunc(abs, 1, 1)": "no callbacks",
    "x = np.apply_along_axis(abs, 0, action)": "no callbacks",
    "x = np.empty(3)": "uninitialised memory",
    "x = np.linalg.lapack_lite": "np.linalg offers",
    "x = action.tofile('f')": "`.tofile` is not allowed",
    "x = action.dump('f')": "`.dump` is not allowed",
    "x = action.ctypes": "`.ctypes` is not allowed",
    "x = action.base": "`.base` is not allowed",
    "action.flags.writeable = True": "`.flags`",
    "x = action.view()": "`.view` is not allowed",
    "np.exp = np.sin": "do not assign to `.exp`",
    "x = state.gi_frame": "`.gi_frame` is not allowed",
    "x = action.fancy_method()": "not an allowed method",
    "x = 10 ** 10 ** 9": "huge integer",
    "x = 2 ** 100": "integer powers and shifts above 64",
    "x = 1 << 1000": "integer powers and shifts above 64",
    "x = 7 ** action.shape[0]": "computed exponent",
    "x = [0] * 10 ** 9": "repeating a list",
    "x = 'ab' * 100000": "repeating a list, tuple or string",
    "x = 10000000000000": "too large; write it as a float",
    "x = 1j": "complex numbers",
    "x = action ** 5000": "exponents above 1000",
}


@pytest.mark.parametrize("code,advice", list(CONSTRUCTS.items()), ids=list(CONSTRUCTS))
def test_forbidden_constructs_say_what_to_change(code, advice):
    src = f"def compute_reward(state, action, next_state):\n    {code}\n    return 0.0, {{}}\n"
    problems = check_source(src, free_names=())
    assert problems, src
    assert any(advice in p for p in problems), problems
    assert all(p.startswith("line ") for p in problems), problems


def test_problems_name_the_line_and_come_in_order():
    src = ("def compute_reward(state, action, next_state):\n"
           "    x = 1\n    y = open('a')\n    while True:\n        pass\n    return x, {}\n")
    problems = check_source(src, free_names=())
    assert problems[0].startswith("line 3:") and problems[1].startswith("line 4:")


@pytest.mark.parametrize("src,advice", [
    ("def reward(state, action, next_state):\n    return 0.0, {}\n", "define `def compute_reward"),
    ("def compute_reward(state):\n    return 0.0, {}\n", "exactly three arguments"),
    ("def compute_reward(a, b, c, d):\n    return 0.0, {}\n", "exactly three arguments"),
    ("def compute_reward(state, action, next_state, seen=[]):\n    return 0.0, {}\n",
     "default values"),
    ("x = 1\nfor i in range(3):\n    x = i\n", "only function definitions"),
    ("def compute_reward(state, action, next_state:\n", "syntax error on line 1"),
    ("@d\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n",
     "remove the decorator"),
    ("def compute_reward(state, action, next_state) -> np.ndarray:\n    return 0.0, {}\n",
     "remove this type annotation"),
    ("class A:\n    pass\n", "not classes"),
    ("async def compute_reward(state, action, next_state):\n    return 0.0, {}\n",
     "not async"),
    ("def compute_reward(state, action, next_state):\n    return '" + "x" * 2000 + "', {}\n",
     "string literals must be under"),
    ("# " + "x" * 30000 + "\n", "characters long"),
    ("def compute_reward(state, action, next_state):\n    return " + "-" * 200 + "1.0, {}\n",
     "nested"),
    ("def compute_reward(state, action, next_state):\n    return 0.0, {}\x00\n", "NUL"),
])
def test_program_level_problems(src, advice):
    problems = check_source(src, free_names=())
    assert any(advice in p for p in problems), problems


def test_node_limit():
    terms = ", ".join("a" for i in range(2600))
    src = f"def compute_reward(state, action, next_state):\n    a = 1.0\n    x = [{terms}]\n    return x, {{}}\n"
    problems = check_source(src, free_names=())
    assert problems and "syntax nodes" in problems[0]


def test_a_forbidden_construct_is_named_once():
    src = ("import os, sys\ndef compute_reward(state, action, next_state):\n"
           "    match state:\n        case [1, 2]:\n            pass\n    return 0.0, {}\n")
    problems = check_source(src, free_names=())
    assert len(problems) == 2, problems


def test_allow_lists_are_consistent():
    assert "random" not in static.NP_ALLOWED and "lib" not in static.NP_ALLOWED
    for name in ("save", "load", "fromfile", "memmap", "frompyfunc", "vectorize", "ctypeslib",
                 "apply_along_axis", "genfromtxt", "loadtxt", "savez", "empty", "seterr"):
        assert name not in static.NP_ALLOWED
    assert not (static.SAFE_BUILTINS & static.FORBIDDEN_NAMES)
    assert not (static.ALLOWED_METHODS & static.FORBIDDEN_ATTRS)
    for node in static.ADVICE:
        assert node not in static.ALLOWED_NODES
    assert ast.While in static.ADVICE
