"""The rules a reward program is held to, as pure modules every layer may use: the static
allow-list (:mod:`~rewardsmith.rules.static`: syntax, names, calls, sizes) and the minimal
namespace it runs in (:mod:`~rewardsmith.rules.namespace`: a few builtins and an ``np`` that
holds only array math). They import nothing of the project above them, so the reward contract
(:mod:`rewardsmith.reward.program`), tasks and the offline designer use them without reaching
the sandbox's process-level layers (:mod:`rewardsmith.sandbox`: the dry run and the jail), which
build on them. See docs/SECURITY.md.
"""
