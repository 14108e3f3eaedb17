"""The bar chart of the tables: error bars only where a row has several seeds, the paper's numbers as diamonds."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
import pandas as pd  # noqa: E402

from atentlib import plots  # noqa: E402


def test_error_bars_only_for_rows_with_several_seeds():
    summary = pd.DataFrame({"pgd20": [14.2, 90.9], "pgd20 sd": [float("nan"), 0.8]}, index=["sgd", "pgd_at"])
    fig = plots.accuracy_bars(summary, ["pgd20"], "test", paper_rows={"pgd_at": {"PGD-20": 96.01}},
                              paper_metrics={"pgd20": "PGD-20"})
    ax = fig.axes[0]
    (container,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    segments = container.errorbar.lines[2][0].get_segments()
    assert len(segments) == 2 and len(segments[0]) == 0  # sgd (one seed): no error bar at all
    (low, high) = segments[1]
    assert math.isclose(low[1], 90.9 - 0.8) and math.isclose(high[1], 90.9 + 0.8)
    caps = container.errorbar.lines[1]
    assert all(math.isnan(cap.get_ydata()[0]) for cap in caps)  # no cap drawn for sgd either
    (diamonds,) = ax.collections[-1:]
    assert diamonds.get_offsets()[0][1] == 96.01  # the paper's PGD-AT number, at the PGD-AT bar
    plt.close(fig)
