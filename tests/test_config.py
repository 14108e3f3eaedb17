"""Bad parameters stop at once with an error naming the file, the key, the value and what is allowed."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from atentlib.config import PARAMS_DIR, ProfileError, load_profile


def _write(tmp_path, mutate):
    raw = yaml.safe_load((PARAMS_DIR / "quick.yaml").read_text())
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("name", ["quick", "paper", "smoke", "converged"])
def test_shipped_profiles_validate(name):
    prof = load_profile(name)
    assert prof.profile == name
    for exp in prof.experiments.values():
        for d in exp.defenses:
            assert exp.train_config(d).epochs >= 1


def test_unknown_profile_lists_allowed():
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*paper.*quick.*smoke"):
        load_profile("nope")


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r.update(cpu_threads=0), r"cpu_threads = 0: Input should be greater than or equal to 1"),
    (lambda r: r["experiments"]["mnist_linf"]["threat"].update(eps=-0.3),
     r"experiments\.mnist_linf\.threat\.eps = -0\.3: Input should be greater than 0"),
    (lambda r: r["experiments"]["mnist_linf"]["defenses"]["atent_linf"].update(K=-1),
     r"defenses\.atent_linf\.atent_linf\.K = -1: Input should be greater than or equal to 0"),
    (lambda r: r["experiments"]["mnist_linf"]["defenses"].update(x={"kind": "magic"}),
     r"defenses\.x = .*'sgd', 'pgd_at', 'atent_linf', 'atent_l2'"),
    (lambda r: r["experiments"]["mnist_linf"]["train"].update(epochz=3),
     r"train\.epochz = 3: Extra inputs are not permitted"),
    (lambda r: r["experiments"]["mnist_linf"]["threat"].update(norm="l3"),
     r"threat\.norm = 'l3': Input should be 'linf' or 'l2'"),
    (lambda r: r["experiments"]["mnist_linf"]["defenses"]["atent_linf"].update(projection="sometimes"),
     r"projection = 'sometimes': Input should be 'final', 'every_step' or 'clip_last_step'"),
    (lambda r: r["experiments"]["mnist_linf"]["defenses"]["sgd"]["train"].update(epochs=0),
     r"epochs = 0: Input should be greater than or equal to 1"),
])
def test_bad_values_name_file_key_value_and_allowed(tmp_path, mutate, expected):
    path = _write(tmp_path, mutate)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value)
    assert err.match(expected)


def test_unknown_experiment_and_defense(tmp_path):
    prof = load_profile("quick")
    with pytest.raises(ProfileError, match="unknown experiment 'imagenet_linf'.*allowed: cifar_l2, cifar_linf, mnist_l2"):
        prof.experiment("imagenet_linf")
    with pytest.raises(ProfileError, match=r"unknown defense 'mart'.*\['atent_l2', 'atent_l2_seed1', 'atent_l2_seed2', 'entropy_sgd', 'mma', 'pgd_at'"):
        prof.experiment("mnist_l2").defense("mart")


def test_cli_bad_profile_exits_2_with_message():
    out = subprocess.run([sys.executable, "-m", "atentlib", "train", "--profile", "nope", "--experiment",
                          "mnist_linf", "--defense", "sgd"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown profile 'nope'" in out.stderr and "quick" in out.stderr


def test_cli_attack_refuses_a_damaged_checkpoint(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    (tmp_path / "x.pt.sha256").write_text("0" * 64 + "\n")
    out = subprocess.run([sys.executable, "-m", "atentlib", "attack", str(bad), "--profile", "smoke"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "corrupted or truncated" in out.stderr


def test_profile_thread_count_is_applied_when_loaded(tmp_path):
    """A profile that fixes cpu_threads gets that many torch threads in every command that loads it (CPU results
    differ bit for bit between thread counts); one that leaves it unset keeps the machine's default."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        load_profile(_write(tmp_path, lambda r: r.update(cpu_threads=1)))
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        load_profile("quick")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
