"""Gradient-masking sanity checks (Athalye et al. 2018; Carlini et al. 2019, "On evaluating adversarial robustness").

A robust accuracy is believable only if the attacks behave as attacks should. From a dict of measured accuracies
(%), `check_masking` returns one flag per check, each {"passed": True/False/None (not measured), "detail", numbers}:

  monotone_in_eps        accuracy never rises as eps grows (beyond tol)
  large_eps_breaks       at a very large eps (the whole box) accuracy falls below large_eps_max (5%)
  more_budget_no_better  more steps / restarts never raise accuracy (FGSM counts as 1 step)
  blackbox_not_stronger  black-box accuracy (transfer or Square) >= white-box accuracy
  pgd_not_below_autoattack  PGD accuracy >= AutoAttack accuracy (else AutoAttack ran wrongly)
  pgd_close_to_autoattack   PGD - AutoAttack <= gap_max points (a large gap: PGD is being fooled by the model)

`run_masking_checks` measures these numbers with cheap settings and returns the flags.
Results dict (every key optional; a missing key leaves its flag at passed=None):
  {"n_examples": int, "eps_curve": [{"eps", "accuracy"}, ...], "large_eps": {"eps", "accuracy"},
   "budget": [{"attack", "steps", "restarts", "accuracy"}, ...], "white_box": float, "black_box": float,
   "pgd": float, "autoattack": float}
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from . import attacks
from .curves import eps_curve
from .scoring import attack_accuracy
from .threat import Ball, Norm


def _flag(passed: bool | None, detail: str, **numbers) -> dict:
    return {"passed": passed, "detail": detail, **numbers}


def _skipped(what: str) -> dict:
    return _flag(None, f"not measured ({what} missing)")


def check_masking(results: dict, tol: float = 1.0, large_eps_max: float = 5.0, gap_max: float = 5.0) -> dict:
    """Flags from measured accuracies (%). tol: slack in points, at least one example when n_examples is given."""
    n = results.get("n_examples")
    tol = max(tol, 100.0 / n) if n else tol
    flags: dict[str, dict] = {}

    curve = sorted(results.get("eps_curve") or [], key=lambda r: r["eps"])
    if len(curve) >= 2:
        eps = [r["eps"] for r in curve]
        acc = [r["accuracy"] for r in curve]
        rise = max(b - a for a, b in zip(acc, acc[1:]))
        flags["monotone_in_eps"] = _flag(rise <= tol, f"largest change of accuracy from one eps to the next: "
                                         f"{rise:+.2f} points (a rise above {tol:.2f} fails)", eps=eps, accuracy=acc,
                                         max_rise=rise, tol=tol)
    else:
        flags["monotone_in_eps"] = _skipped("eps_curve")

    big = results.get("large_eps")
    if big:
        flags["large_eps_breaks"] = _flag(big["accuracy"] < large_eps_max, f"accuracy {big['accuracy']:.2f}% at "
                                          f"eps {big['eps']:g} (must be < {large_eps_max}%)", eps=big["eps"],
                                          accuracy=big["accuracy"], threshold=large_eps_max)
    else:
        flags["large_eps_breaks"] = _skipped("large_eps")

    budget = results.get("budget") or []
    if len(budget) >= 2:
        bad = [f"{b.get('attack', '')}({b['steps']} steps x {b['restarts']}) {b['accuracy']:.2f} > "
               f"{a.get('attack', '')}({a['steps']} steps x {a['restarts']}) {a['accuracy']:.2f}"
               for a in budget for b in budget
               if b["steps"] >= a["steps"] and b["restarts"] >= a["restarts"]
               and (b["steps"], b["restarts"]) != (a["steps"], a["restarts"]) and b["accuracy"] > a["accuracy"] + tol]
        flags["more_budget_no_better"] = _flag(not bad, "; ".join(bad) or "accuracy never rises with the budget",
                                               budget=budget, tol=tol)
    else:
        flags["more_budget_no_better"] = _skipped("budget")

    wb, bb = results.get("white_box"), results.get("black_box")
    if wb is not None and bb is not None:
        flags["blackbox_not_stronger"] = _flag(bb >= wb - tol, f"black-box {bb:.2f}% vs white-box {wb:.2f}%",
                                               white_box=wb, black_box=bb, tol=tol)
    else:
        flags["blackbox_not_stronger"] = _skipped("white_box or black_box")

    pgd, aa = results.get("pgd"), results.get("autoattack")
    if pgd is not None and aa is not None:
        flags["pgd_not_below_autoattack"] = _flag(pgd >= aa - tol, f"PGD {pgd:.2f}% vs AutoAttack {aa:.2f}%",
                                                  pgd=pgd, autoattack=aa, tol=tol)
        gap = pgd - aa
        flags["pgd_close_to_autoattack"] = _flag(gap <= gap_max, f"PGD - AutoAttack = {gap:.2f} points (at most "
                                                 f"{gap_max}; more: masking, or a weak PGD)", pgd=pgd, autoattack=aa,
                                                 gap_max=gap_max)
    else:
        flags["pgd_not_below_autoattack"] = _skipped("pgd or autoattack")
        flags["pgd_close_to_autoattack"] = _skipped("pgd or autoattack")
    return flags


def all_passed(flags: dict) -> bool:
    """True when no measured flag failed (flags not measured do not count)."""
    return all(f["passed"] is not False for f in flags.values())


def run_masking_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm, eps: float, *,
                       steps: int = 20, restarts: int = 3, more_steps_factor: int = 4,
                       eps_factors: tuple[float, ...] | list[float] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
                       large_eps: float | None = None, surrogate: nn.Module | None = None,
                       blackbox: Literal["square", "off"] = "square", square_queries: int = 500,
                       autoattack: Literal["cheap", "standard", "off"] = "cheap", autoattack_iters: int = 50,
                       tol: float = 1.0, large_eps_max: float = 5.0, gap_max: float = 5.0,
                       batch_size: int = 500, seed: int = 0, known: dict | None = None) -> dict:
    """Measure what check_masking needs on (x, y) and return its flags (each with its numbers).

    PGD step sizes are 2.5 r / steps at each radius r. large_eps None: the box's diameter (1 in linf, sqrt(dim)
    in l2). Black-box: transfer from `surrogate` when given, else Square with square_queries queries (or off).
    autoattack "cheap" runs APGD-CE + APGD-T with autoattack_iters iterations. `known` holds numbers already
    measured on the same (x, y) and threat, e.g. {"autoattack": 91.5} from the suite, which are not run again.
    """
    known = known or {}
    def pgd_acc(k: int, r: int, radius: float = eps) -> float:
        torch.manual_seed(seed)
        ball = Ball(norm, radius)
        return attack_accuracy(model, x, y, lambda xb, yb: attacks.pgd(model, xb, yb, ball, k, 2.5 * radius / k, r),
                               batch_size)

    ball = Ball(norm, eps)
    res: dict = {"n_examples": len(y)}
    res["eps_curve"] = [{"eps": r["eps"], "accuracy": r["accuracy"]} for r in
                        eps_curve(model, x, y, norm, [f * eps for f in eps_factors], steps, batch_size=batch_size,
                                  seed=seed)]
    big = large_eps if large_eps is not None else (1.0 if norm == "linf" else math.sqrt(x[0].numel()))
    res["large_eps"] = {"eps": big, "accuracy": pgd_acc(steps, 1, big)}

    fgsm_acc = attack_accuracy(model, x, y, lambda xb, yb: attacks.fgsm(model, xb, yb, ball), batch_size)
    more = steps * more_steps_factor
    res["budget"] = [{"attack": "fgsm", "steps": 1, "restarts": 1, "accuracy": fgsm_acc},
                     {"attack": "pgd", "steps": steps, "restarts": 1, "accuracy": pgd_acc(steps, 1)},
                     {"attack": "pgd", "steps": more, "restarts": 1, "accuracy": pgd_acc(more, 1)}]
    if restarts > 1:
        res["budget"].append({"attack": "pgd", "steps": more, "restarts": restarts,
                              "accuracy": pgd_acc(more, restarts)})
    res["pgd"] = res["budget"][1]["accuracy"]
    white = [b["accuracy"] for b in res["budget"]]

    if "autoattack" in known:
        res["autoattack"] = known["autoattack"]
        white.append(res["autoattack"])
    elif autoattack != "off":
        version = "cheap" if autoattack == "cheap" else "standard"
        res["autoattack"] = attack_accuracy(
            model, x, y, lambda xb, yb: attacks.autoattack(model, xb, yb, ball, version, batch_size=batch_size,
                                                            seed=seed, n_iter=autoattack_iters if version == "cheap"
                                                            else None), batch_size)
        white.append(res["autoattack"])
    res["white_box"] = min(white)

    if surrogate is not None:
        torch.manual_seed(seed)
        res["black_box"] = attack_accuracy(model, x, y, lambda xb, yb: attacks.transfer(
            model, xb, yb, surrogate=surrogate, ball=ball, steps=steps, step_size=2.5 * eps / steps), batch_size)
    elif blackbox == "square":
        res["black_box"] = attack_accuracy(model, x, y, lambda xb, yb: attacks.square(
            model, xb, yb, ball, n_queries=square_queries, seed=seed), batch_size)
    return check_masking(res, tol=tol, large_eps_max=large_eps_max, gap_max=gap_max)
