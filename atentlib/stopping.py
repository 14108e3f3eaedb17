"""Why training stops early: no improvement of the monitor's robust accuracy (early stopping), or a loss that
is NaN/inf (divergence, checked on the device so that training steps never wait for the host)."""
from __future__ import annotations

import torch

from . import distributed


class TrainingError(RuntimeError):
    """Training diverged (NaN/inf loss) or cannot continue."""


def early_stop_reason(history: list[dict], patience: int | None) -> str | None:
    """Why training stops now (PGD-AT(E)): val_robust (the validation digits' robust accuracy) has not improved
    for `patience` epochs; None: go on."""
    if patience is None or not history or "val_robust" not in history[-1]:
        return None
    rob = [h["val_robust"] for h in history]
    best = max(range(len(rob)), key=rob.__getitem__)  # the first epoch with the best value, as best.pt holds
    if len(rob) - 1 - best < patience:
        return None
    return (f"early stopping: val_robust has not improved for {len(rob) - 1 - best} epochs "
            f"(patience {patience}; best {rob[best]:.4g} at epoch {best + 1})")


class NonFiniteWatch:
    """Remembers, on the device, the first batch whose loss is NaN/inf; `check` reads it (one host sync)."""

    def __init__(self, n_batches: int, device: torch.device):
        self.n_batches, self.checked = n_batches, 0
        self.first = torch.full((), n_batches, dtype=torch.long, device=device)
        self.value = torch.zeros((), device=device)

    def update(self, loss: torch.Tensor, batch: int) -> None:
        new = ~torch.isfinite(loss) & (self.first == self.n_batches)
        self.first = torch.where(new, batch, self.first)
        self.value = torch.where(new, loss.detach().float(), self.value)

    def check(self, ctx: distributed.Context, epoch: int, upto: int, where: str) -> None:
        first = int(distributed.all_reduce_(ctx, self.first.clone(), op="min").item())
        lo, self.checked = self.checked + 1, upto
        if first < self.n_batches:
            value = self.value.item() if int(self.first.item()) == first else float("nan")
            raise TrainingError(f"{where}: loss is {value} at epoch {epoch + 1}, batch {first + 1} of "
                                f"{self.n_batches} (the first non-finite loss of batches {lo}-{upto}); "
                                f"lower the learning rate or check the data")
