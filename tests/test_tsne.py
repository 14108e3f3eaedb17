"""atentlib.tsne, the pieces of Figure 1: the 5/8 subset and its relabelling, the in-memory experiment trained by
the engine, the attack, the features t-SNE sees, the embedding, and the k-NN decision-region map."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from atentlib import models, tsne  # noqa: E402
from atentlib.config import ProfileError  # noqa: E402
from atentlib.data import DataBundle, Split  # noqa: E402


def _split(n: int = 60, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.rand(n, 1, 28, 28, generator=g)
    x[:, 0, 0, 0] = y.float() / 10  # a pixel that remembers each image's original digit
    return Split(x, y)


# ----------------------------------------------------------------------------- data
def test_digit_subset_keeps_and_relabels_in_the_given_order():
    s = _split()
    sub = tsne.digit_subset(s, (5, 8))
    assert len(sub) == 12 and set(sub.y.tolist()) == {0, 1}
    orig = torch.round(sub.x[:, 0, 0, 0] * 10).long()
    assert torch.equal(orig[sub.y == 0], torch.full(((sub.y == 0).sum().item(),), 5))
    assert torch.equal(orig[sub.y == 1], torch.full(((sub.y == 1).sum().item(),), 8))
    rev = tsne.digit_subset(s, (8, 5))  # the order decides the labels
    assert torch.equal(rev.y, 1 - sub.y) and torch.equal(rev.x, sub.x)


def test_digit_subset_size_seed_and_errors():
    s = _split(200)
    a, b = tsne.digit_subset(s, (5, 8), n=10, seed=3), tsne.digit_subset(s, (5, 8), n=10, seed=3)
    assert len(a) == 10 and torch.equal(a.x, b.x)
    assert not torch.equal(a.x, tsne.digit_subset(s, (5, 8), n=10, seed=4).x)
    with pytest.raises(ValueError, match="distinct"):
        tsne.digit_subset(s, (5, 5))
    with pytest.raises(ValueError, match="no example"):
        tsne.digit_subset(Split(s.x[:3], torch.tensor([0, 1, 2])), (5, 8))


def test_digit_bundle_records_the_relabelling():
    b = tsne.digit_bundle(DataBundle(_split(100), _split(50, seed=1), {"source": "test"}), (5, 8), n_test=4)
    assert b.info["relabel"] == {5: 0, 8: 1} and b.info["n_train"] == 20 and b.info["n_test"] == 4
    assert b.info["source"] == "test" and len(b.test) == 4


# ----------------------------------------------------------------------------- training and attack
def _toy_bundle(n: int = 64) -> DataBundle:
    """Two classes told apart by the brightness of the left half of the image."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.2
    x[y == 1, :, :, :14] += 0.7
    return DataBundle(Split(x, y), Split(x[:32], y[:32]), {"source": "toy"})


def test_experiment_config_is_validated_by_the_schema():
    exp = tsne.experiment_config({"epochs": 1}, {"sgd": {"kind": "sgd"}})
    assert exp.model == "mlp" and exp.threat.eps == 0.3 and exp.evaluation.attacks[0].steps == 20
    with pytest.raises(Exception, match="kind"):
        tsne.experiment_config({"epochs": 1}, {"x": {"kind": "nope"}})


def test_train_defenses_uses_the_engine(tmp_path):
    exp = tsne.experiment_config({"epochs": 2, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
                                  "monitor_examples": 0}, {"sgd": {"kind": "sgd"}})
    out = tsne.train_defenses(exp, _toy_bundle(), tmp_path, profile="t")
    t = out["sgd"]
    assert isinstance(t.model, models.MLP) and not t.model.training and len(t.history) == 2
    assert (tmp_path / "t" / tsne.EXPERIMENT / "sgd" / "checkpoint.pt").exists()
    x, y = _toy_bundle().test.x, _toy_bundle().test.y
    a = tsne.attack(t.model, x, y, eps=0.1, steps=3, step_size=0.05, batch_size=10)
    assert a.natural == 100.0  # the toy problem is trivially separable
    assert a.x_adv.shape == x.shape and (a.x_adv - x).abs().max() <= 0.1 + 1e-6
    assert a.x_adv.min() >= 0 and a.x_adv.max() <= 1
    assert a.pred_clean.shape == a.pred_adv.shape == (32,)
    assert a.robust == pytest.approx(100.0 * (a.pred_adv == y.numpy()).mean())
    with pytest.raises(ProfileError, match="unknown defense"):
        tsne.train_defenses(exp, _toy_bundle(), tmp_path, names=["pgd_at"])


# ----------------------------------------------------------------------------- features and embedding
def test_hidden_features_are_the_input_of_the_last_linear_layer():
    torch.manual_seed(0)
    m = models.build("mlp", num_classes=2).train()
    x = torch.rand(7, 1, 28, 28)
    f = tsne.features(m, x, "hidden", batch_size=3)
    assert f.shape == (7, 256) and m.training  # mode restored
    with torch.no_grad():
        np.testing.assert_allclose(f, m.net[:-1](x).numpy(), rtol=1e-5, atol=1e-6)
    assert tsne.features(m, x, "input").shape == (7, 784)
    with pytest.raises(ValueError, match="hidden"):
        tsne.features(m, x, "logits")
    with pytest.raises(ValueError, match="no nn.Linear"):
        tsne.features(nn.Sequential(nn.Flatten()), x)


def test_embed_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    lab = np.repeat([0, 1, 2], 20)
    feats = rng.normal(size=(60, 10)) * 0.3 + np.eye(10)[lab] * 10
    emb = tsne.embed(feats, perplexity=10, seed=0)
    assert emb.shape == (60, 2)
    r = tsne.decision_regions(emb, lab, k=5)
    assert r.fidelity == 100.0  # the neighbours of each point in 2-D are from its own cluster
    assert tsne.embed(feats[:6], perplexity=30).shape == (6, 2)  # perplexity capped for tiny sets
    with pytest.raises(ValueError, match="at least 4"):
        tsne.embed(feats[:3])


# ----------------------------------------------------------------------------- decision regions
def test_decision_regions_on_a_toy_plane():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, size=(400, 2))
    pred = (pts[:, 0] > 0).astype(int)  # a vertical boundary at x = 0
    r = tsne.decision_regions(pts, pred, k=7, grid=50, margin=0.1)
    assert r.label.shape == (50, 50) and r.gx.shape == (50,) and r.gy.shape == (50,)
    assert r.gx[0] < pts[:, 0].min() and r.gx[-1] > pts[:, 0].max()
    far_left, far_right = r.gx < -0.2, r.gx > 0.2
    assert (r.label[:, far_left] == 0).all() and (r.label[:, far_right] == 1).all()
    assert r.fidelity > 97
    flipped = pred.copy()
    flipped[rng.choice(400, 80, replace=False)] ^= 1  # 20% noise the map cannot reproduce
    assert tsne.decision_regions(pts, flipped, k=7, grid=20).fidelity < 90
    with pytest.raises(ValueError, match="emb must be"):
        tsne.decision_regions(pts[:, :1], pred)
    assert tsne.decision_regions(pts[:3], pred[:3], k=15).label.shape == (200, 200)  # k capped


def test_plot_panel_draws_regions_points_and_crosses():
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(40, 2))
    y = np.r_[np.arange(20) % 2, np.arange(20) % 2]
    r = tsne.decision_regions(emb, (emb[:, 0] > 0).astype(int), k=3, grid=30)
    fig, ax = plt.subplots()
    tsne.plot_panel(ax, emb, y, r, 20, ["5", "8"], ["tab:blue", "tab:red"], title="t")
    assert len(ax.collections) >= 4 and ax.get_title() == "t"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["predicted 5", "predicted 8", "digit 5", "digit 8", "its PGD version (true colour)"]
    plt.close(fig)
