"""Plug ``assay serve`` into trainers: verl's ``compute_score`` and OpenRLHF's ``reward_func``.

Both read their settings from the environment, since the trainers load these functions by
file path and call them with fixed signatures:

- ``ASSAY_SERVE_URL`` (default ``http://127.0.0.1:8000``), ``ASSAY_SERVE_TOKEN`` (optional);
- ``ASSAY_ENV``: the env whose verifier and rubric score, used unless the sample names one
  (verl: a ``data_source`` that is a served env id such as ``assay/Arithmetic-v0``, or
  ``extra_info["assay_env"]``).

**verl.** Point ``custom_reward_function.path`` at a file containing
``from assay.serve.adapters import verl_compute_score as compute_score`` (the naive
reward manager calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)``)
or ``verl_compute_score_batch as compute_score`` with ``reward_model.reward_manager=batch``
(called with ``data_sources=, solution_strs=, ground_truths=, extra_infos=``). Each result is
``{"score": reward, "acc": 1.0 | 0.0, "pred": extracted answer}``.

**OpenRLHF.** Either ``--remote_rm_url http://HOST:PORT/v1/openrlhf?env=ENV`` (the server
speaks OpenRLHF's remote reward protocol directly) or ``--remote_rm_url reward_func.py`` with
``from assay.serve.adapters import openrlhf_reward_func as reward_func`` in that file
(called as ``reward_func(queries, prompts, labels)``; the response is the query minus its
prompt). Returns ``{"rewards", "scores", "extra_logs"}`` as torch tensors when torch is
importable, else lists.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from assay.serve.client import VerifierClient
from assay.verifiers.base import Status

__all__ = ["openrlhf_reward_func", "verl_compute_score", "verl_compute_score_batch"]

_clients: dict[tuple[str, str | None], VerifierClient] = {}
_lock = threading.Lock()


def _client() -> VerifierClient:
    url = os.environ.get("ASSAY_SERVE_URL", "http://127.0.0.1:8000")
    token = os.environ.get("ASSAY_SERVE_TOKEN") or None
    with _lock:
        client = _clients.get((url, token))
        if client is None:
            client = _clients[(url, token)] = VerifierClient(url, token=token)
        return client


def _env_for(data_source: Any, extra_info: Mapping[str, Any] | None) -> str:
    if extra_info and isinstance(extra_info.get("assay_env"), str):
        return str(extra_info["assay_env"])
    if isinstance(data_source, str) and "/" in data_source and "-v" in data_source:
        return data_source
    env = os.environ.get("ASSAY_ENV")
    if not env:
        raise ValueError(
            f"cannot tell which assay env scores data_source={data_source!r}: set ASSAY_ENV "
            "or put extra_info['assay_env']"
        )
    return env


def _verl_results(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None],
) -> list[dict[str, Any]]:
    items = [
        VerifierClient.item(_env_for(ds, ei), str(sol), task={"answer": None if gt is None else str(gt)})
        for ds, sol, gt, ei in zip(data_sources, solution_strs, ground_truths, extra_infos, strict=True)
    ]
    out = []
    for reward, verdict in _client().reward_batch(items):
        out.append(
            {
                "score": reward.total,
                "acc": 1.0 if verdict.status is Status.CORRECT else 0.0,
                "pred": verdict.extracted or "",
            }
        )
    return out


def verl_compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """verl's per-sample ``compute_score`` (naive reward manager), scored by the service."""
    return _verl_results([data_source], [solution_str], [ground_truth], [extra_info])[0]


def verl_compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **_: Any,
) -> list[dict[str, Any]]:
    """verl's batched ``compute_score`` (batch reward manager): one HTTP request per batch."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    return _verl_results(data_sources, solution_strs, ground_truths, infos)


def openrlhf_reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None, **_: Any
) -> dict[str, Any]:
    """OpenRLHF's custom ``reward_func(queries, prompts, labels)``, scored by the service."""
    env = _env_for(None, None)
    labels = list(labels) if labels is not None else [None] * len(queries)
    items = []
    for q, p, label in zip(queries, prompts, labels, strict=True):
        response = q[len(p) :] if p and q.startswith(p) else q
        items.append(
            VerifierClient.item(
                env, response, task={"prompt": p, "answer": None if label is None else str(label)}
            )
        )
    results = _client().reward_batch(items)
    rewards = [r.total for r, _ in results]
    scores = [v.score for _, v in results]
    correct = [1.0 if v.status is Status.CORRECT else 0.0 for _, v in results]
    try:
        import torch
    except ImportError:
        return {"rewards": rewards, "scores": scores, "extra_logs": {"correct": correct}}
    return {
        "rewards": torch.tensor(rewards),
        "scores": torch.tensor(scores),
        "extra_logs": {"correct": torch.tensor(correct)},
    }
