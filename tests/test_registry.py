"""The registries (tasks, LLM backends, executors, training backends): what is unknown is named
with what exists, and a registry that loads lazily is never seen half-loaded by a thread."""

from __future__ import annotations

import threading

import pytest

from rewardsmith.errors import UnknownName
from rewardsmith.registry import Registry


def test_an_unknown_name_lists_the_close_ones_and_every_known_one():
    r: Registry[int] = Registry("thing")
    r.register("hopper", 1)
    r.register("cheetah", 2)
    with pytest.raises(UnknownName, match=r"unknown thing 'hoper'; did you mean 'hopper'\? "
                                          r"Known: cheetah, hopper"):
        r.load("hoper")
    with pytest.raises(ValueError, match="registered twice"):
        r.register("hopper", 3)


def test_a_thread_waits_for_the_lazy_load_another_has_begun():
    """Two benchmark runs at once loaded the task registry together; the second saw it
    half-loaded and called a registered task unknown."""
    inside, go = threading.Event(), threading.Event()
    r: Registry[int] = Registry("task", loader=lambda: load())

    def load():
        r.register("first", 1)
        inside.set()
        assert go.wait(timeout=60)
        r.register("second", 2)

    got: dict[str, object] = {}

    def ask(name):
        try:
            got[name] = r.load(name)
        except UnknownName as e:
            got[name] = e

    a = threading.Thread(target=ask, args=("first",))
    a.start()
    assert inside.wait(timeout=60)  # the loader is half way
    b = threading.Thread(target=ask, args=("second",))
    b.start()
    go.set()
    a.join(timeout=60)
    b.join(timeout=60)
    assert got == {"first": 1, "second": 2}
    assert r.names() == ["first", "second"]


def test_a_loader_may_ask_its_own_registry_while_it_loads():
    r: Registry[int] = Registry("task", loader=lambda: (r.register("a", 1), r.register(
        "b", r.load("a") + 1)))
    assert r.load("b") == 2
