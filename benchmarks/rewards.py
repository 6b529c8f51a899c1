"""Reward throughput: rule-based terms on 2k-token responses, and an LLM judge with/without cache.

    .venv/bin/python benchmarks/rewards.py [--responses 256] [--rounds 5] [--judge-items 128]

Rule terms. A pool of distinct synthetic reasoning responses of about 2,000 tokens each
(~1,500 words, ~8.7k characters at ~4.3 characters per token; a quarter of them fall into a
repetition loop half-way, as degenerate rollouts do) is scored by:

- assay: one `Rubric` of format (``<think>``/``<answer>`` in order, exactly once), length (DAPO
  overlong penalty) and repetition (3-gram and line rates), single process, one response per
  call: the floor is 20,000 evaluations/s;
- the peer, TRL 1.16's built-in reward functions for the same three things
  (``think_format_reward``, ``get_soft_overlong_punishment``, ``get_repetition_penalty_reward``),
  fed the responses' token ids (as GRPOTrainer does; tokenising is not timed), called per
  response;
- assay with ``ASSAY_NO_NUMBA=1`` (the pure-Python fallback), in a subprocess.

Every evaluation sees a different string than the one before (no caching across calls helps).
The machine is shared, so each row reports wall-clock and CPU-time (process_time) rates, the
best of ``--rounds`` rounds; compare rows of one run.

Judge. `Judge` over HTTP against the loopback `OpenAIStub` answering after a simulated 20 ms of
model time, ``--judge-items`` distinct items in one batch with concurrency 16: a cold cache
(every item goes to the server), the same batch again (every item a cache hit: no request), and
no cache at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "which",
    "an",
    "but",
    "not",
    "have",
    "we",
    "can",
    "so",
    "if",
    "then",
    "there",
    "all",
    "one",
    "two",
    "three",
    "number",
    "value",
    "answer",
    "equation",
    "step",
    "check",
    "result",
    "sum",
    "total",
    "let",
    "us",
    "find",
    "compute",
    "solve",
    "because",
    "therefore",
    "since",
    "given",
    "thus",
    "hence",
    "where",
    "each",
    "per",
    "more",
    "less",
    "than",
    "equal",
    "times",
    "plus",
    "minus",
    "divide",
    "multiply",
    "first",
    "second",
    "third",
    "next",
    "finally",
    "now",
    "note",
    "recall",
    "assume",
    "suppose",
    "consider",
    "case",
    "both",
    "either",
    "neither",
    "only",
    "also",
    "again",
    "same",
    "different",
    "x",
    "y",
    "z",
    "n",
    "k",
    "m",
    "a",
    "b",
    "c",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "12",
    "15",
    "20",
    "24",
    "36",
    "48",
    "72",
    "100",
]


def make_responses(count: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    """``count`` distinct ~2k-token responses and their token ids (one id per word or symbol)."""
    rng = np.random.default_rng(seed)
    vocab: dict[str, int] = {}
    out = []
    for i in range(count):
        lines = []
        words_total = 0
        while words_total < 1_500:
            k = int(rng.integers(6, 18))
            line = " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), k))
            lines.append(line)
            words_total += k
        if i % 4 == 3:  # a degenerate loop in the second half
            half = len(lines) // 2
            loop = lines[half : half + 3]
            lines = lines[:half] + loop * ((len(lines) - half) // 3 + 1)
        text = (
            "<think>\n"
            + "\n".join(lines)
            + "\n</think>\n<answer>"
            + str(int(rng.integers(0, 1000)))
            + "</answer>"
        )
        pieces = text.replace("\n", " \n ").split(" ")
        ids = [vocab.setdefault(p, len(vocab)) for p in pieces if p]
        # scale to ~2k tokens the way a BPE tokenizer would (some words are 2 tokens)
        ids = ids + ids[: max(0, 2_000 - len(ids))]
        out.append((text, ids[:2_048]))
    return out


def _vary(text: str, r: int) -> str:
    """A fresh string with new content for round ``r`` (same shape, same verdicts)."""
    return text.replace("<think>\n", f"<think>\nround {r}\n", 1)


def best_rate(fn: Callable[[int], None], n: int, rounds: int) -> tuple[float, float]:
    """(evaluations/s by wall clock, by CPU time): the best of ``rounds``."""
    wall, cpu = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(n)
        w1, c1 = time.perf_counter(), time.process_time()
        wall.append(n / max(w1 - w0, 1e-9))
        cpu.append(n / max(c1 - c0, 1e-9))
    return max(wall), max(cpu)


def assay_rules(responses: Sequence[tuple[str, list[int]]], rounds: int) -> dict[str, Any]:
    from assay.rewards import Rubric, line_repetition, ngram_repetition, overlong_penalty, tags
    from assay.rewards.textstats import kernel_name
    from assay.verifiers import Status, Task, Verdict

    rubric = Rubric(
        [
            tags("think", "answer").weighted(0.2),
            overlong_penalty(12_000, 2_000).weighted(0.2),
            ngram_repetition(3).weighted(-0.5),
            line_repetition().weighted(-0.5),
        ]
    )
    task, verdict = Task("t", "p"), Verdict(Status.CORRECT, 1.0)
    texts = [t for t, _ in responses]
    # each round sees fresh string objects with new content (a distinct suffix), so no cache helps
    fresh = [[_vary(t, r) for t in texts] for r in range(rounds + 1)]
    rubric(fresh[0][0], task, verdict)  # compile / load the kernel outside the timing
    state = {"round": 0}

    def run(n: int) -> None:
        state["round"] += 1
        batch = fresh[state["round"]]
        for i in range(n):
            rubric(batch[i % len(batch)], task, verdict)

    wall, cpu = best_rate(lambda n: run(n), len(texts), rounds)
    sample = rubric(texts[3], task, verdict)
    return {"kernel": kernel_name(), "wall": wall, "cpu": cpu, "example": dict(sample.terms)}


def trl_rules(responses: Sequence[tuple[str, list[int]]], rounds: int) -> dict[str, Any] | None:
    try:
        from trl.rewards import (
            get_repetition_penalty_reward,
            get_soft_overlong_punishment,
            think_format_reward,
        )
    except ImportError:
        return None
    overlong = get_soft_overlong_punishment(max_completion_len=2_800, soft_punish_cache=470)
    repetition = get_repetition_penalty_reward(ngram_size=3, max_penalty=-1.0)
    rounds_data = [[([{"content": _vary(t, r)}], ids) for t, ids in responses] for r in range(rounds + 1)]
    state = {"round": 0}

    def run(n: int) -> None:
        state["round"] += 1
        batch = rounds_data[state["round"]]
        for i in range(n):
            completion, ids = batch[i % len(batch)]
            think_format_reward([completion])
            overlong([ids])
            repetition([ids])

    wall, cpu = best_rate(run, len(responses), rounds)
    return {"wall": wall, "cpu": cpu}


def judge_throughput(items: int) -> list[tuple[str, float, int]]:
    from assay.rewards.judge import Judge, JudgeCache, rubric_template
    from assay.testing import OpenAIStub, StubReply
    from assay.verifiers import Task
    from assay.verifiers.sampler import OpenAISampler

    tasks = [Task(f"q{i}", f"Question {i}: what is {i} + {i}?", str(2 * i)) for i in range(items)]
    completions = [f"The answer is {2 * i}." for i in range(items)]
    rows = []
    with OpenAIStub(lambda r: StubReply("Looks right.\nScore: 8", delay_s=0.02)) as stub:
        sampler = OpenAISampler(stub.url, "stub", concurrency=16, timeout_s=30)
        cached = Judge(sampler, rubric_template(["Correct"]), cache=JudgeCache())
        for label, judge in (("cold cache", cached), ("warm cache (all hits)", cached)):
            before = stub.request_count
            t0 = time.perf_counter()
            verdicts = judge.batch(completions, tasks)
            dt = time.perf_counter() - t0
            assert all(v.score > 0 for v in verdicts)
            rows.append((label, items / dt, stub.request_count - before))
        uncached = Judge(sampler, rubric_template(["Correct"]), cache=None)
        before = stub.request_count
        t0 = time.perf_counter()
        uncached.batch(completions, tasks)
        rows.append(("no cache", items / (time.perf_counter() - t0), stub.request_count - before))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--judge-items", type=int, default=128)
    parser.add_argument("--only-assay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    responses = make_responses(args.responses)
    if args.only_assay:  # the pure-Python fallback row, run in a subprocess
        print(json.dumps(assay_rules(responses, args.rounds)))
        return

    chars = sum(len(t) for t, _ in responses) / len(responses)
    words = sum(len(t.split()) for t, _ in responses) / len(responses)
    tokens = sum(len(ids) for _, ids in responses) / len(responses)
    print(f"{len(responses)} responses: {chars:,.0f} chars, {words:,.0f} words, ~{tokens:,.0f} tokens each")

    ours = assay_rules(responses, args.rounds)
    peer = trl_rules(responses, args.rounds)
    env = {**os.environ, "ASSAY_NO_NUMBA": "1"}
    fallback_cmd = [
        sys.executable,
        __file__,
        "--only-assay",
        "--responses",
        str(min(args.responses, 64)),
        "--rounds",
        "2",
    ]
    fallback = json.loads(
        subprocess.run(fallback_cmd, env=env, capture_output=True, text=True, check=True).stdout
    )

    print("\nformat + length + repetition, evaluations/s (one response per call, single process)")
    print(f"{'implementation':52s} {'wall':>10s} {'cpu':>10s}")
    print(
        f"{'assay Rubric (kernel: ' + ours['kernel'] + ')':52s} {ours['wall']:>10,.0f} {ours['cpu']:>10,.0f}"
    )
    print(
        f"{'assay Rubric (kernel: ' + fallback['kernel'] + ', ASSAY_NO_NUMBA=1)':52s} {fallback['wall']:>10,.0f} {fallback['cpu']:>10,.0f}"
    )
    if peer is None:
        print(f"{'TRL 1.16 reward functions':52s} {'(trl not installed)':>21s}")
    else:
        print(
            f"{'TRL 1.16 think_format + soft_overlong + repetition':52s} {peer['wall']:>10,.0f} {peer['cpu']:>10,.0f}"
        )
    floor = 20_000
    verdict = "meets" if max(ours["wall"], ours["cpu"]) >= floor else "BELOW"
    print(f"floor {floor:,}/s: {verdict} (best of wall/cpu: {max(ours['wall'], ours['cpu']):,.0f}/s)")
    print(f"example breakdown (a looping response): {ours['example']}")

    print(
        f"\njudge over loopback HTTP (20 ms simulated model latency, concurrency 16, {args.judge_items} items)"
    )
    print(f"{'case':28s} {'items/s':>10s} {'requests':>10s}")
    for label, rate, requests in judge_throughput(args.judge_items):
        print(f"{label:28s} {rate:>10,.0f} {requests:>10d}")


if __name__ == "__main__":
    main()
