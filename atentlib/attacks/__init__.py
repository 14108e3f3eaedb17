"""Attacks: each takes (model, x, y) with x in [0, 1] and returns x_adv inside its ball and [0, 1]."""
from .pgd import pgd

__all__ = ["pgd"]
