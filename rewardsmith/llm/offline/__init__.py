"""The ``offline`` designer: writes reward programs without a network. It is NOT an LLM.

It reads the task as data (:class:`DesignContext`: the state schema, the description, the state
after reset) and composes a program from a library of reward terms: a task term picked from
the description (velocity along the named axis, height gain and upward speed, uprightness of
the poles, fingertip-to-target or fingertips-to-object and object-to-goal distances, rotation
for flips), a healthy/alive term where the robot can fall, staged terms for "then hold still"
(a joint-speed penalty switched on once the target is reached), penalties for joint ranges the
description names, and shaping and effort terms. Each of the ``n`` samples draws a different term
subset, weights and temperatures, deterministically from the request and the sample index.

Given the best program so far and its training statistics (``context.best``) it improves it by
rules, the way an engineer reads a training report: short episodes raise the alive and posture
weights, a component that swamps the task terms is scaled down, a flat fitness curve raises the
task weight and adds a shaping term, a component that never moves is dropped or rescaled, and
failed candidates send it back to a safe template. Its named constants are then mutated for
the other samples. Programs written by someone else (an LLM, a person) are tuned through their
named constants, traced through the code to the components they feed.

Answers look like an LLM's (a sentence of reasoning and a ```python block) so that the same
extraction path runs, and the code says in a comment who wrote it.

Modules, each importing only those above it:

- ``robot``: :class:`Robot` (what the state schema says) and :class:`Intent` (what the
  description asks for, :func:`read_intent`);
- ``terms``: :class:`Const`, :class:`Term` and the :class:`Designer` with its term makers and
  menus, :func:`jitter`;
- ``render``: terms to ``compute_reward`` source (:func:`render`) and a sentence (:func:`describe`);
- ``source``: reading a program (:func:`read_constants`, :func:`component_constants`,
  :func:`read_plan`, :func:`guess_role`) and writing its constants back
  (:func:`substitute_constants`);
- ``improve``: training statistics (:func:`read_stats`) and the rules that plan the next
  version (:func:`improve`, :func:`human`);
- ``designer``: :class:`OfflineDesigner`, the backend, and :func:`context_from_messages`.
"""

from rewardsmith.llm.offline.designer import OfflineDesigner, context_from_messages, factory
from rewardsmith.llm.offline.improve import Part, Plan, Stats, human, improve, read_stats
from rewardsmith.llm.offline.render import MARKER, PLAN_PREFIX, describe, render
from rewardsmith.llm.offline.robot import Intent, Robot, read_intent
from rewardsmith.llm.offline.source import (
    component_constants,
    guess_role,
    read_constants,
    read_plan,
    substitute_constants,
)
from rewardsmith.llm.offline.terms import Const, Designer, Term, jitter

__all__ = [
    "MARKER", "PLAN_PREFIX", "Const", "Designer", "Intent", "OfflineDesigner", "Part", "Plan",
    "Robot", "Stats", "Term", "component_constants", "context_from_messages", "describe",
    "factory", "guess_role", "human", "improve", "jitter", "read_constants", "read_intent",
    "read_plan", "read_stats", "render", "substitute_constants",
]
