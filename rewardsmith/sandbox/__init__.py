"""The sandbox, in layers: static checks, a minimal namespace, the dry run, the worker jail.

``check_program(program, task) -> CheckReport`` (from :mod:`rewardsmith.sandbox.dryrun`) is the
one gate every candidate passes; see docs/SECURITY.md. Importing this package stays light: the
dry-run worker imports it in every check.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CheckReport", "DryRunSettings", "SandboxError", "check_program", "dry_run",
           "record_transitions"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rewardsmith.sandbox import dryrun

        return getattr(dryrun, name)
    raise AttributeError(f"module 'rewardsmith.sandbox' has no attribute {name!r}")
