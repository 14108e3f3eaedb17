"""Small helpers the notebooks call: read run results, put our numbers beside the paper's, save labelled
tables and figures. Every output names the profile it came from.

One import for the notebooks (`from atentlib import report`); the helpers live in one module per job:
report_names (display names, seed groups), report_results (reading what the pipeline wrote and the papers'
numbers), report_tables (summaries, tables, sentences) and report_output (figures and metric files).
"""
from __future__ import annotations

from .report_names import display_name, seed_base, seed_groups, seed_index
from .report_output import save_figure, write_metrics
from .report_results import (RESULT_KEYS, epoch_times, evaluated_runs, load_eval, load_run, missing_note,
                             paper_numbers, plateau_epoch, result_metrics, results_frame, split_evaluated,
                             training_curves)
from .report_tables import (attack_labels, beside_paper, default_note, describe_experiment, findings, metric_columns,
                            subset_attacks, subset_note, summarize, summary_metrics, table_summary, write_table)

__all__ = ["display_name", "seed_base", "seed_groups", "seed_index", "save_figure", "write_metrics", "RESULT_KEYS",
           "epoch_times", "evaluated_runs", "load_eval", "load_run", "missing_note", "paper_numbers", "plateau_epoch",
           "result_metrics", "results_frame",
           "split_evaluated", "training_curves",
           "attack_labels", "beside_paper", "default_note", "describe_experiment", "findings", "metric_columns",
           "subset_attacks", "subset_note", "summarize", "summary_metrics", "table_summary", "write_table"]
