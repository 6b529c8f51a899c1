"""Evaluation: pass@k, maj@k, best-of-N and mean reward over an env's tasks, logged and resumable.

`evaluate` runs a sampler over an env and writes one JSONL record per sample (`SampleLog`);
`summarize` recomputes every metric from those records alone; `plot_summary` draws the pass@k
curve and the reward histogram.
"""

from assay.agents.evaluation.metrics import (
    Estimate,
    best_at_k,
    cluster_answers,
    majority_at_k,
    majority_vote,
    mean_ci,
    pass_at_k,
)
from assay.agents.evaluation.records import ConfigMismatch, Log, SampleLog, read_log
from assay.agents.evaluation.runner import EvalConfig, Selector, answer_classes, evaluate, task_indices
from assay.agents.evaluation.summary import Summary, TaskResult, summarize, task_results

__all__ = [
    "ConfigMismatch",
    "Estimate",
    "EvalConfig",
    "Log",
    "SampleLog",
    "Selector",
    "Summary",
    "TaskResult",
    "answer_classes",
    "best_at_k",
    "cluster_answers",
    "evaluate",
    "majority_at_k",
    "majority_vote",
    "mean_ci",
    "pass_at_k",
    "read_log",
    "summarize",
    "task_indices",
    "task_results",
]
