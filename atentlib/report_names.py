"""The names a reader sees: each defense's display name (from the defense registry), and extra seeds of a defense
(profile entries named <defense>_seed<N>) grouped with it."""
from __future__ import annotations

import re

from .defenses import display_names

EARLY_STOPPED = "_e"  # suffix of a table row holding a defense at its best checkpoint (report_tables.table_summary)


def display_name(defense: str) -> str:
    """The name a reader knows (PGD-AT, TRADES, ...) for a defense key of the profiles: the registered display name
    of the kind of that name, `<name>(E)` for its early-stopped row `<kind>_e`; any other key as it is."""
    names = display_names()
    if defense in names:
        return names[defense]
    base = defense.removesuffix(EARLY_STOPPED)
    return f"{names[base]}(E)" if defense.endswith(EARLY_STOPPED) and base in names else defense


_SEED_SUFFIX = re.compile(r"^(?P<base>.+)_seed(?P<seed>\d+)$")


def seed_base(defense: str) -> str:
    """`pgd_at_seed1` -> `pgd_at`: extra seeds of a defense are profile entries named <defense>_seed<N>."""
    m = _SEED_SUFFIX.match(defense)
    return m["base"] if m else defense


def seed_index(defense: str) -> int:
    """`pgd_at_seed2` -> 2, `pgd_at` -> 0: which seed of its defense a profile entry is."""
    m = _SEED_SUFFIX.match(defense)
    return int(m["seed"]) if m else 0


def seed_groups(defenses: list[str]) -> dict[str, list[str]]:
    """Defenses grouped with their extra seeds, in profile order: {pgd_at: [pgd_at, pgd_at_seed1, ...], ...}."""
    groups: dict[str, list[str]] = {}
    for d in defenses:
        groups.setdefault(seed_base(d) if seed_base(d) in defenses else d, []).append(d)
    return groups
