"""Adversarial reward programs for the sandbox tests (task: hopper-forward-v0).

Each :class:`Case` says which stage must reject it and a regular expression its problems must
match (the reason, in words). ``unsafe`` cases run with the static layer bypassed
(``dry_run(..., _unsafe_skip_static=True)``): they show what the namespace layer, the dry run
and the jail contain on their own. Programs that try to write files aim at paths holding
``PWNED``; the tests assert that no such file appears anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

PWNED = "rewardsmith_pwned"


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    source: str
    stage: str  # "static" | "compile" | "dry_run"
    match: str  # regex the joined problems must match (case-insensitive)
    unsafe: bool = False  # run with the static layer bypassed
    needs: str = ""  # "" | "fs" (bwrap's confined file system) | "net" (network namespace)


OK_BODY = "    r = next_state.rootx_vel\n    return r, {'v': r}\n"

# An escape that works once the static layer is bypassed: walk to os's globals.
ESCAPE = '''
def find(name):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            return c.__init__.__globals__[name]

def imp(module):
    b = find("__builtins__")
    return (b["__import__"] if isinstance(b, dict) else b.__import__)(module)
'''


def prog(body: str, pre: str = "") -> str:
    return pre + "\ndef compute_reward(state, action, next_state):\n" + body


CASES: list[Case] = [
    # ------------------------------------------------------------------ imports
    Case("import_os", "imports", "import os\n" + prog(OK_BODY), "static", r"remove the import"),
    Case("from_import", "imports", "from os import system\n" + prog(OK_BODY), "static",
         r"remove the import"),
    Case("dunder_import", "imports", prog("    os = __import__('os')\n" + OK_BODY), "static",
         r"`__import__`.*underscore"),
    Case("importlib", "imports", prog("    m = importlib.import_module('os')\n" + OK_BODY),
         "static", r"`importlib` is not available"),
    Case("import_inside", "imports", prog("    import subprocess\n" + OK_BODY), "static",
         r"remove the import"),
    # ---------------------------------------------------------- object walks
    Case("subclasses_walk", "class walk",
         prog("    c = ().__class__.__base__.__subclasses__()\n" + OK_BODY), "static",
         r"`\.__class__` is not allowed"),
    Case("mro_walk", "class walk", prog("    c = [].__class__.mro()\n" + OK_BODY), "static",
         r"underscore|`\.mro`"),
    Case("func_globals", "frame walk", prog("    g = compute_reward.__globals__\n" + OK_BODY),
         "static", r"`\.__globals__` is not allowed"),
    Case("generator_frame", "frame walk",
         prog("    g = (x for x in [1])\n    f = g.gi_frame.f_back.f_globals\n" + OK_BODY),
         "static", r"generator expression|`\.gi_frame`"),
    Case("yield_frame", "frame walk",
         "def gen():\n    yield 1\n" + prog("    f = gen().gi_frame\n" + OK_BODY), "static",
         r"instead of yielding"),
    Case("str_format_leak", "format leak",
         prog("    s = '{0.__class__.__base__}'.format(state)\n" + OK_BODY), "static",
         r"`\.format` is not allowed"),
    Case("format_map_leak", "format leak",
         prog("    s = '{a.__class__}'.format_map({'a': state})\n" + OK_BODY), "static",
         r"`\.format_map` is not allowed"),
    Case("format_builtin", "format leak", prog("    s = format(state, '')\n" + OK_BODY),
         "static", r"`format` is not available"),
    Case("chr_getattr", "built names",
         prog("    rnd = getattr(np, chr(114) + 'andom')\n" + OK_BODY), "static",
         r"`getattr` is not available|`chr` is not available"),
    Case("globals_call", "globals/vars",
         prog("    b = globals()['__builtins__']\n" + OK_BODY), "static",
         r"`globals` is not available"),
    Case("vars_call", "globals/vars", prog("    d = vars(np)\n" + OK_BODY), "static",
         r"`vars` is not available"),
    Case("match_class", "match",
         prog("    match state:\n        case object(__class__=c):\n            pass\n" + OK_BODY),
         "static", r"replace `match`"),
    Case("eval_exec", "eval", prog("    eval('1')\n    exec('x = 1')\n" + OK_BODY), "static",
         r"`eval` is not available"),
    Case("np_alias_escape", "namespace",
         prog("    m = np\n    g = m.random\n" + OK_BODY), "dry_run",
         r"np\.random is not available"),
    # ------------------------------------------------------------- loops, CPU
    Case("while_true", "infinite loop", prog("    while True:\n        pass\n" + OK_BODY),
         "static", r"replace the `while` loop"),
    Case("huge_for", "infinite loop",
         prog("    t = 0.0\n    for i in range(10 ** 12):\n        t = t + 1.0\n" + OK_BODY),
         "dry_run", r"took more than .* s"),
    Case("recursion", "recursion",
         "def f(x):\n    return f(x) + 1\n" + prog("    r = f(next_state.rootx_vel)\n"
                                                 "    return r, {}\n"),
         "dry_run", r"called itself without end"),
    Case("bigint_literal", "big integer", "X = 10 ** 10 ** 9\n" + prog(OK_BODY), "static",
         r"huge integer"),
    Case("bigint_shift", "big integer", prog("    x = 1 << 10 ** 9\n" + OK_BODY), "static",
         r"huge integer|above 64"),
    Case("bigint_squaring", "big integer (C)",
         prog("    v = 3\n    for i in range(64):\n        v = v * v\n" + OK_BODY), "dry_run",
         r"ran over its time limit|took more than|out of memory|CPU time"),
    Case("huge_alloc", "allocation",
         prog("    a = np.ones((100000, 100000))\n" + OK_BODY), "dry_run", r"out of memory"),
    Case("huge_list", "allocation", prog("    a = [0.0] * 10 ** 10\n" + OK_BODY), "static",
         r"repeating a list"),
    # ---------------------------------------------------------------- files
    Case("open_write", "file write",
         prog(f"    open('/tmp/{PWNED}', 'w').write('x')\n" + OK_BODY), "static",
         r"`open` is not available"),
    Case("np_save", "file write", prog(f"    np.save('{PWNED}.npy', action)\n" + OK_BODY),
         "static", r"`np\.save` is not available: no files"),
    Case("np_memmap", "file write",
         prog(f"    m = np.memmap('{PWNED}', mode='w+', shape=(10,))\n" + OK_BODY), "static",
         r"`np\.memmap` is not available"),
    Case("tofile", "file write", prog(f"    action.tofile('{PWNED}')\n" + OK_BODY), "static",
         r"`\.tofile` is not allowed"),
    Case("np_fromfile", "file read", prog("    x = np.fromfile('/etc/passwd')\n" + OK_BODY),
         "static", r"`np\.fromfile` is not available"),
    Case("np_loadtxt", "file read", prog("    x = np.loadtxt('/etc/passwd')\n" + OK_BODY),
         "static", r"`np\.loadtxt` is not available"),
    Case("np_lib", "namespace", prog("    x = np.lib.format\n" + OK_BODY), "static",
         r"`np\.lib` is not available"),
    Case("np_ctypes", "namespace", prog("    x = np.ctypeslib\n" + OK_BODY), "static",
         r"`np\.ctypeslib` is not available"),
    Case("vectorize_callback", "callbacks",
         "def g(x):\n    return x\n" + prog("    f = np.vectorize(g)\n" + OK_BODY), "static",
         r"no callbacks"),
    # ------------------------------------------------------------ processes
    Case("socket", "network", "import socket\n" + prog(OK_BODY), "static",
         r"remove the import"),
    Case("sleep", "sleep", prog("    time.sleep(100)\n" + OK_BODY), "static",
         r"`time` is not available"),
    Case("print_flood", "stdout flood",
         prog("    for i in range(10 ** 9):\n        print('x' * 1000)\n" + OK_BODY), "static",
         r"remove print"),
    Case("system_exit", "exit", prog("    raise SystemExit(0)\n"), "static", r"do not raise"),
    Case("exit_call", "exit", prog("    exit(0)\n"), "static", r"`exit` is not available"),
    # ------------------------------------------------------------- outputs
    Case("nan_reward", "NaN", prog("    r = next_state.rootx_vel * np.nan\n"
                                   "    return r, {}\n"), "dry_run", r"the reward is NaN"),
    Case("inf_reward", "inf", prog("    r = next_state.rootx_vel * 0.0 + np.inf\n"
                                   "    return r, {}\n"), "dry_run", r"the reward is inf"),
    Case("exp_overflow", "inf",
         prog("    r = np.exp(next_state.rootx_vel * 1000.0)\n    return r, {}\n"), "dry_run",
         r"the reward is (inf|NaN)|above the bound"),
    Case("huge_magnitude", "magnitude",
         prog("    r = next_state.rootx_vel * 0.0 + 1e9\n    return r, {}\n"), "dry_run",
         r"reaches 1e\+09 .*above the bound"),
    Case("wrong_shape", "shape", prog("    return next_state.torso_pos, {}\n"), "dry_run",
         r"shape \(64, 3\).*np\.sum\(\.\.\., axis=-1\)"),
    Case("column_shape", "shape",
         prog("    return next_state.torso_pos[:, :1], {}\n"), "dry_run", r"take \[:, 0\]"),
    Case("returns_string", "type", prog("    return 'reward', {}\n"), "dry_run",
         r"the reward is a str"),
    Case("returns_none", "type", prog("    return None\n"), "dry_run",
         r"must return a tuple .* returned None"),
    Case("reward_none", "type", prog("    return None, {}\n"), "dry_run", r"the reward is None"),
    Case("returns_list", "type", prog("    return [1.0, 2.0], {}\n"), "dry_run",
         r"the reward is a list"),
    Case("returns_scalar", "type", prog("    return 1.0, {}\n"), "dry_run",
         r"single number"),
    Case("object_dtype", "dtype",
         prog("    r = np.array(list(next_state.rootx_vel), dtype='O')\n    return r, {}\n"),
         "dry_run", r"dtype object"),
    Case("int_dtype", "dtype",
         prog("    r = np.where(next_state.rootx_vel > 0, 1, 0)\n    return r, {}\n"), "dry_run",
         r"dtype int64.*use 1\.0 and 0\.0"),
    Case("components_list", "components",
         prog("    r = next_state.rootx_vel\n    return r, [r]\n"), "dry_run",
         r"components must be a dict"),
    Case("components_nan", "components",
         prog("    r = next_state.rootx_vel\n    return r, {'bad': r * np.nan}\n"), "dry_run",
         r"component 'bad' is NaN"),
    Case("many_components", "components",
         prog("    r = next_state.rootx_vel\n    return r, {n: r for n in NAMES}\n",
              "NAMES = " + repr(tuple(f"c{i}" for i in range(60))) + "\n"), "dry_run",
         r"60 components; return at most 50"),
    Case("unstable_keys", "components",
         prog("    r = next_state.rootx_vel\n    if r.shape[0] == 1:\n"
              "        return r, {'a': r, 'b': r}\n    return r, {'a': r}\n"), "dry_run",
         r"component names differ"),
    # ------------------------------------------------------------ mutation
    Case("inplace_action", "mutation",
         prog("    a = action\n    a += 1.0\n    r = a.sum(axis=-1)\n    return r, {}\n"),
         "dry_run", r"change its inputs in place"),
    Case("inplace_state", "mutation",
         prog("    q = next_state.qpos\n    q[:, 0] = 0.0\n" + OK_BODY), "dry_run",
         r"change its inputs in place"),
    Case("out_argument", "mutation",
         prog("    np.clip(action, -0.1, 0.1, out=action)\n" + OK_BODY), "dry_run",
         r"change its inputs in place"),
    Case("setflags", "mutation",
         prog("    action.setflags(write=True)\n" + OK_BODY), "static", r"`\.setflags`"),
    Case("array_base", "mutation", prog("    b = action.base\n" + OK_BODY), "static",
         r"`\.base` is not allowed"),
    Case("assign_np_attr", "mutation", prog("    np.exp = np.sin\n" + OK_BODY), "static",
         r"do not assign to `\.exp`"),
    # ------------------------------------------------------------ randomness
    Case("np_random", "randomness", prog("    r = np.random.rand(3)\n" + OK_BODY), "static",
         r"np\.random.*deterministic"),
    Case("stateful_counter", "randomness",
         "CALLS = [0.0]\n" + prog("    CALLS[0] = CALLS[0] + 1.0\n"
                                  "    r = next_state.rootx_vel + CALLS[0]\n"
                                  "    return r, {}\n"), "dry_run",
         r"different results for the same input"),
    Case("mutable_default", "randomness",
         "def compute_reward(state, action, next_state, seen=[]):\n    seen.append(1)\n"
         "    r = next_state.rootx_vel\n    return r, {}\n", "static", r"default values"),
    # ----------------------------------------------------------- rare branches
    Case("rare_none", "rare branch",
         prog("    if np.any(next_state.rootz_pos < 0.0):\n        return None\n" + OK_BODY),
         "dry_run", r"returned None"),
    Case("rare_index", "rare branch",
         prog("    r = next_state.rootx_vel\n    if np.all(next_state.time == 0.0):\n"
              "        r = r[5]\n    return r, {}\n"), "dry_run",
         r"all-zero states"),
    Case("zero_division", "rare branch",
         prog("    v = next_state.torso_quat\n    n = np.linalg.norm(v, axis=-1)\n"
              "    r = v[:, 0] / n\n    return r, {'n': n}\n"), "dry_run",
         r"NaN .*all-zero states"),
    Case("py_zero_division", "rare branch",
         prog("    k = int(np.all(np.abs(action[0]) == 1.0))\n    s = 1.0 / (1 - k)\n"
              "    return next_state.rootx_vel * s, {}\n"), "dry_run",
         r"ZeroDivisionError.*extreme states"),
    # ------------------------------------------------------------ other syntax
    Case("lambda", "syntax", prog("    f = lambda x: x\n" + OK_BODY), "static",
         r"instead of a lambda"),
    Case("class_def", "syntax", "class A:\n    pass\n" + prog(OK_BODY), "static",
         r"not classes"),
    Case("try_except", "syntax", prog("    try:\n        pass\n    except Exception:\n"
                                      "        pass\n" + OK_BODY), "static",
         r"remove try/except"),
    Case("with_block", "syntax", prog("    with np:\n        pass\n" + OK_BODY), "static",
         r"remove the `with` block"),
    Case("global_stmt", "syntax", "N = 0.0\n" + prog("    global N\n" + OK_BODY), "static",
         r"remove `global`"),
    Case("nonlocal_stmt", "syntax",
         prog("    n = 0\n    def g():\n        nonlocal n\n        n = 1\n" + OK_BODY),
         "static", r"remove `nonlocal`"),
    Case("underscore_name", "syntax", prog("    _x = 1.0\n" + OK_BODY), "static",
         r"names may not start with an underscore"),
    Case("decorator", "syntax", "def d(f):\n    return f\n@d\n" + prog(OK_BODY).lstrip("\n"),
         "static", r"remove the decorator"),
    Case("toplevel_code", "syntax", "for i in range(3):\n    pass\n" + prog(OK_BODY), "static",
         r"only function definitions"),
    Case("too_long", "size", "# " + "x" * 30_000 + "\n" + prog(OK_BODY), "static",
         r"characters long"),
    Case("too_deep", "size", prog("    r = " + "-" * 150 + "1.0\n" + OK_BODY),
         "static", r"nested|syntax error"),
    Case("no_entry", "contract", "def reward(state, action, next_state):\n    return 0.0, {}\n",
         "static", r"define `def compute_reward"),
    Case("wrong_arity", "contract", "def compute_reward(state):\n    return 0.0, {}\n",
         "static", r"exactly three arguments"),
    Case("toplevel_error", "contract", "K = 1.0 / 0.0\n" + prog(OK_BODY), "compile",
         r"defining the program failed.*ZeroDivisionError"),
    Case("unknown_field", "contract", prog("    r = next_state.torso_height\n    return r, {}\n"),
         "dry_run", r"no field 'torso_height'"),
    # ------------------------------------------- contained by the jail (static bypassed)
    Case("unsafe_while", "infinite loop", prog("    while True:\n        pass\n"), "dry_run",
         r"took more than", unsafe=True),
    Case("unsafe_bigint_c", "big integer (C)", "X = 7 ** (10 ** 9)\n" + prog(OK_BODY),
         "compile|dry_run", r"took more than|ran over its time limit", unsafe=True),
    Case("unsafe_sleep", "sleep",
         ESCAPE + prog("    imp('time').sleep(100)\n" + OK_BODY), "dry_run", r"took more than",
         unsafe=True),
    Case("unsafe_stdout_flood", "stdout flood",
         ESCAPE + prog("    w = imp('sys').stdout.write\n    for i in range(10 ** 9):\n"
                       "        w('x' * 100000)\n" + OK_BODY), "dry_run",
         r"too much output|SIGXFSZ|took more than", unsafe=True),
    Case("unsafe_os_exit", "exit", ESCAPE + prog("    find('_exit')(0)\n"), "dry_run",
         r"ended the dry-run worker", unsafe=True),
    Case("unsafe_os_exit_status", "exit", ESCAPE + prog("    find('_exit')(3)\n"), "dry_run",
         r"ended the dry-run worker early \(exited with status 3\)", unsafe=True),
    Case("unsafe_system_exit", "exit",
         ESCAPE + prog("    raise imp('builtins').SystemExit(0)\n"), "dry_run",
         r"tried to end the process", unsafe=True),
    Case("unsafe_segfault", "crash",
         ESCAPE + prog("    find('kill')(find('getpid')(), 11)\n" + OK_BODY), "dry_run",
         r"segmentation fault", unsafe=True),
    Case("unsafe_huge_alloc", "allocation",
         ESCAPE + prog("    b = imp('builtins').bytearray(8 * 1024 ** 3)\n" + OK_BODY),
         "dry_run", r"out of memory", unsafe=True),
    Case("unsafe_write_outside", "file write",
         ESCAPE + prog(f"    o = imp('builtins').open\n    err = imp('builtins').OSError\n"
                       f"    for p in ['/tmp/{PWNED}', '../{PWNED}', '../../{PWNED}',\n"
                       f"              find('path').expanduser('~/{PWNED}'),\n"
                       f"              '{{REPO}}/{PWNED}']:\n"
                       f"        try:\n            o(p, 'w').write('x')\n"
                       f"        except err:\n            pass\n" + OK_BODY),
         "ok", r"", unsafe=True, needs="fs"),
    Case("unsafe_system_write", "file write",
         ESCAPE + prog(f"    find('system')('echo x > ../{PWNED}; echo x > {{REPO}}/{PWNED}')\n"
                       + OK_BODY), "ok", r"", unsafe=True, needs="fs"),
    Case("unsafe_mutate_rows", "mutation",
         prog("    rows = action.base if action.base is not None else action\n"
              "    rows.setflags(write=True)\n    rows[:] = 7.0\n" + OK_BODY), "dry_run",
         r"changed its inputs|change its inputs in place", unsafe=True),
    Case("unsafe_kill_parent", "process", ESCAPE + prog(
        "    find('kill')(find('getppid')(), 9)\n" + OK_BODY), "ok|dry_run", r"",
        unsafe=True, needs="fs"),
]
