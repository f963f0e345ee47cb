"""Installed package versions (for manifests, caches and ``rewardsmith backends``)."""

from __future__ import annotations

from collections.abc import Iterable


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """``{name: version}``, with None for a package that is not installed."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
