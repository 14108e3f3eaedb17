"""The package's layers: which module may import which. tests/test_layers.py holds every module to it.

A module may import from its own layer and the layers below it, never from a layer above, and no chain of imports
may lead back to where it started (no import cycles between modules). Subpackages belong whole to one layer.

core    the vocabulary every layer shares: strict parameter schemas, the plugin registry, threat balls,
        architectures, accuracy counting
method  the algorithms: ATENT's samplers, the defenses and attacks (each with its config and its plugin record),
        randomized smoothing, the 1-d Langevin picture
engine  running them: profiles, data, checkpoints, the training loop and its helpers, evaluation and the
        gradient-masking checks
study   what the notebooks and the command line use: results, tables, figures, statistics, the model zoo
"""
from __future__ import annotations

LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("__init__", "config_base", "registry", "threat", "models", "scoring", "layers"),
    "method": ("samplers", "attacks", "defenses", "certify", "langevin1d"),
    "engine": ("config", "config_eval", "data", "checkpoint", "augment", "distributed", "stopping", "train",
               "curves", "masking", "evaluate", "experiment"),
    "study": ("report", "departures", "report_names", "report_results", "report_tables", "report_output", "plots", "verdict",
              "variants", "zoo", "tsne", "runs", "optional_data", "notebook", "study_index", "timings", "__main__"),
}
ORDER = tuple(LAYERS)  # lowest first


def layer_of(module: str) -> str:
    """The layer of a module named relative to the package (`train`, `attacks.pgd`, `defenses`)."""
    top = module.split(".")[0]
    for layer, members in LAYERS.items():
        if top in members:
            return layer
    raise KeyError(f"module {module!r} is in no layer of atentlib.layers.LAYERS: add it to one")
