"""A defense written with `seeds: [...]` is one run per seed, named and configured as the tables expect."""
from __future__ import annotations

import copy

import pytest
import yaml

from atentlib.config import PARAMS_DIR, ProfileError, expand_seeds, load_profile


def _raw(defenses: dict, seed: int = 0) -> dict:
    return {"experiments": {"e": {"train": {"seed": seed}, "defenses": defenses}}}


def test_seeds_expand_to_the_named_runs_the_tables_group():
    pgd = {"kind": "pgd_at", "steps": 5, "step_size": 0.08}
    raw = _raw({"sgd": {"kind": "sgd"}, "pgd_at": {**pgd, "seeds": [0, 1, 2]}, "mart": {"kind": "mart"}})
    got = expand_seeds(raw)["experiments"]["e"]["defenses"]
    # the written-out form the profiles used before: first seed under the defense's name, the others after
    assert got == {"sgd": {"kind": "sgd"}, "pgd_at": pgd, "mart": {"kind": "mart"},
                   "pgd_at_seed1": {**pgd, "train": {"seed": 1}}, "pgd_at_seed2": {**pgd, "train": {"seed": 2}}}
    assert list(got) == ["sgd", "pgd_at", "mart", "pgd_at_seed1", "pgd_at_seed2"]


def test_a_defense_own_train_overrides_are_kept_for_every_seed():
    raw = _raw({"a": {"kind": "sgd", "train": {"epochs": 3}, "seeds": [4, 7]}})
    got = expand_seeds(raw)["experiments"]["e"]["defenses"]
    assert got == {"a": {"kind": "sgd", "train": {"epochs": 3, "seed": 4}},
                   "a_seed7": {"kind": "sgd", "train": {"epochs": 3, "seed": 7}}}


@pytest.mark.parametrize("seeds", [[], [1, 1], "0,1", [0, -1], [0, True], None])
def test_bad_seeds_name_the_key_and_what_is_allowed(seeds):
    with pytest.raises(ProfileError, match=r"experiments\.e\.defenses\.a\.seeds .*non-empty list of distinct"):
        expand_seeds(_raw({"a": {"kind": "sgd", "seeds": seeds}}))


def test_a_seed_run_may_not_shadow_a_written_defense():
    with pytest.raises(ProfileError, match="a_seed1"):
        expand_seeds(_raw({"a": {"kind": "sgd", "seeds": [0, 1]}, "a_seed1": {"kind": "mart"}}))


@pytest.mark.parametrize("profile", ["quick", "paper", "smoke"])
def test_profiles_with_seed_lists_load_the_runs_they_wrote_out_before(profile):
    """Each seed list of the shipped profiles gives the runs `<d>`, `<d>_seed1`, `<d>_seed2` with train.seed set,
    the rest of the defense unchanged (what the written-out entries held)."""
    raw = yaml.safe_load((PARAMS_DIR / f"{profile}.yaml").read_text())
    prof = load_profile(profile)
    found = 0
    for name, exp in raw["experiments"].items():
        for d, cfg in exp["defenses"].items():
            if "seeds" not in cfg:
                continue
            found += 1
            base = prof.experiments[name].train_config(d)
            for s in cfg["seeds"][1:]:
                run = f"{d}_seed{s}"
                other = prof.experiments[name].train_config(run)
                assert other.seed == s and other.model_copy(update={"seed": base.seed}) == base
                same = [prof.experiments[name].defenses[r].model_dump(exclude={"train"}) for r in (run, d)]
                assert same[0] == same[1]
    assert found >= 4


def test_expansion_leaves_profiles_without_seeds_alone():
    raw = _raw({"a": {"kind": "sgd"}, "b": {"kind": "mart", "train": {"seed": 3}}})
    assert expand_seeds(copy.deepcopy(raw)) == raw
