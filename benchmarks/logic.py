"""Logic puzzles: generated and verified per second per family, beside reasoning-gym, one run.

For each assay family (at the level named below) the script times ``task_at(i)`` (generation)
and the verifier on the gold answer (verification) over fresh indices; for the families that
reasoning-gym also has it times ``dataset[i]`` and ``score_answer(answer, entry)`` on a dataset
configured to match our level as closely as its knobs allow. The machine is shared, so the two
sides are measured in alternating rounds; throughput (wall clock) is each side's median round,
and the comparison uses the median per-puzzle generation time in CPU time of this process
(``time.process_time``), which other processes' load does not inflate.

    .venv/bin/python benchmarks/logic.py [--n 200] [--rounds 5] [--shared] [--only TEXT ...]

``--shared`` keeps the rows that have a reasoning-gym peer; ``--only`` keeps the rows whose label
contains one of the given texts (e.g. ``--only syllogism maze``).

Needs reasoning-gym (``pip install "assay[bench]"``); without it only our side is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from assay.envs.logic.countdown import CountdownEnv
from assay.envs.logic.cryptarithm import CryptarithmEnv
from assay.envs.logic.entailment import EntailmentEnv
from assay.envs.logic.graph_coloring import GraphColoringEnv
from assay.envs.logic.knights_knaves import KnightsKnavesEnv
from assay.envs.logic.maze import MazeEnv
from assay.envs.logic.nonogram import NonogramEnv
from assay.envs.logic.puzzle import PuzzleEnv
from assay.envs.logic.sat import SatEnv
from assay.envs.logic.sequence import SequenceEnv
from assay.envs.logic.sudoku import SudokuEnv
from assay.envs.logic.syllogism import SyllogismEnv
from assay.envs.logic.zebra import ZebraEnv

# (label, our env, reasoning-gym dataset name and config matched to it, or None)
ROWS: list[tuple[str, PuzzleEnv, tuple[str, dict[str, Any]] | None]] = [
    ("knights_knaves 3 people", KnightsKnavesEnv("medium"), ("knights_knaves", {"n_people": 3})),
    ("sudoku 4x4", SudokuEnv("easy"), ("mini_sudoku", {"min_empty": 8, "max_empty": 8})),
    ("sudoku 6x6 (default)", SudokuEnv("medium"), None),
    ("sudoku 9x9 45 blanks", SudokuEnv("hard"), ("sudoku", {"min_empty": 45, "max_empty": 45})),
    ("zebra 4x4", ZebraEnv("medium"), ("zebra_puzzles", {"num_people": 4, "num_characteristics": 4})),
    (
        "countdown 6 numbers",
        CountdownEnv("hard"),
        ("countdown", {"min_numbers": 6, "max_numbers": 6, "min_target": 100, "max_target": 999}),
    ),
    ("countdown 4 numbers (default)", CountdownEnv("medium"), None),
    (
        "graph colouring 10 v, 3 c",
        GraphColoringEnv("medium"),
        (
            "graph_color",
            {"min_num_vertices": 10, "max_num_vertices": 10, "num_colors": 3, "edge_probability": 0.4},
        ),
    ),
    ("sat 6 vars 20 clauses", SatEnv("medium"), None),
    (
        "maze 7x7",
        MazeEnv("medium"),
        ("maze", {"min_grid_size": 7, "max_grid_size": 7, "min_dist": 6, "max_dist": 12}),
    ),
    (
        "maze 7x7 vs shortest_path",
        MazeEnv("medium"),
        ("shortest_path", {"min_rows": 7, "max_rows": 7, "min_cols": 7, "max_cols": 7, "p_blocked": 0.3}),
    ),
    ("cryptarithm 2 addends", CryptarithmEnv("medium"), ("cryptarithm", {"min_words": 2, "max_words": 2})),
    ("nonogram 5x5", NonogramEnv("medium"), None),
    (
        "sequence: sorting",
        SequenceEnv("medium", kinds=["sort"]),
        ("number_sorting", {"min_numbers": 8, "max_numbers": 8, "min_decimals": 0, "max_decimals": 0}),
    ),
    ("sequence: patterns", SequenceEnv("medium", kinds=["pattern"]), ("number_sequence", {})),
    ("syllogism", SyllogismEnv("medium"), ("syllogism", {})),
    (
        "entailment 3 atoms",
        EntailmentEnv("medium"),
        ("propositional_logic", {"min_vars": 3, "max_vars": 3, "min_statements": 2, "max_statements": 2}),
    ),
]


def time_ours(env: PuzzleEnv, start: int, n: int) -> tuple[float, float, list[float]]:
    tasks, each = [], []
    t0 = time.perf_counter()
    for i in range(start, start + n):
        t = time.process_time()
        tasks.append(env.task_at(i))
        each.append(time.process_time() - t)
    gen = time.perf_counter() - t0
    golds = [env.gold(t) for t in tasks]
    t0 = time.perf_counter()
    for task, gold in zip(tasks, golds, strict=True):
        if not env.verifier(gold, task).correct:
            raise AssertionError(f"gold failed on {task.id}")
    return n / gen, n / (time.perf_counter() - t0), each


def time_theirs(dataset: Any, start: int, n: int) -> tuple[float, float, list[float]]:
    items, each = [], []
    t0 = time.perf_counter()
    for i in range(start, start + n):
        t = time.process_time()
        items.append(dataset[i])
        each.append(time.process_time() - t)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    for item in items:
        dataset.score_answer(item["answer"], item)
    return n / gen, n / max(time.perf_counter() - t0, 1e-9), each


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="puzzles per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--shared", action="store_true", help="only the rows with a reasoning-gym peer")
    ap.add_argument("--only", nargs="+", metavar="TEXT", help="only the rows whose label contains a TEXT")
    args = ap.parse_args()
    rows = [
        row
        for row in ROWS
        if (row[2] is not None or not args.shared) and (not args.only or any(t in row[0] for t in args.only))
    ]
    try:
        import reasoning_gym
    except ImportError:
        reasoning_gym = None
        print("reasoning-gym not installed: printing our side only")

    header = (
        f"{'family (level)':34s} {'ours gen/s':>11s} {'rg gen/s':>10s} {'ours ver/s':>11s} {'rg ver/s':>10s} "
        f"{'ours p50ms':>9s} {'rg p50ms':>9s} {'speedup':>7s}"
    )
    print(header)
    print("-" * len(header))
    slower = []
    for label, env, peer in rows:
        dataset = None
        if peer is not None and reasoning_gym is not None:
            name, cfg = peer
            dataset = reasoning_gym.create_dataset(name, seed=0, size=10**7, **cfg)
        ours_gen, ours_ver, theirs_gen, theirs_ver, each, their_each = [], [], [], [], [], []
        for r in range(args.rounds):
            start = 1_000 + r * args.n
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for side in order:
                if side == 0:
                    g, v, e = time_ours(env, start, args.n)
                    ours_gen.append(g)
                    ours_ver.append(v)
                    each += e
                elif dataset is not None:
                    g, v, e = time_theirs(dataset, start, args.n)
                    their_each += e
                    theirs_gen.append(g)
                    theirs_ver.append(v)
        og, ov = statistics.median(ours_gen), statistics.median(ours_ver)
        median_ms = statistics.median(each) * 1e3
        if theirs_gen:
            tg, tv = statistics.median(theirs_gen), statistics.median(theirs_ver)
            their_ms = statistics.median(their_each) * 1e3
            ratio = their_ms / median_ms
            if ratio < 1.0:
                slower.append(label)
            row = (
                f"{og:11.0f} {tg:10.0f} {ov:11.0f} {tv:10.0f} {median_ms:9.3f} {their_ms:9.3f} {ratio:6.2f}x"
            )
        else:
            row = f"{og:11.0f} {'-':>10s} {ov:11.0f} {'-':>10s} {median_ms:9.3f} {'-':>9s} {'-':>7s}"
        label_level = f"{label} ({env.level})"
        print(f"{label_level:34s} {row}")
    print()
    print(
        f"{args.rounds} alternating rounds of {args.n} puzzles. gen/s, ver/s: wall-clock throughput, median of "
        "rounds. p50ms: median CPU time (time.process_time) to generate one puzzle, all rounds; "
        "speedup = rg p50 / ours p50."
    )
    if reasoning_gym is not None:
        print(f"reasoning-gym {reasoning_gym.__version__}, numpy {np.__version__}")
    if slower:
        print("slower than reasoning-gym at generation:", ", ".join(slower))
    else:
        print("generation at least as fast as reasoning-gym on every shared family")


if __name__ == "__main__":
    main()
