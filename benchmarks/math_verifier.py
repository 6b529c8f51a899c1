"""assay's MathVerifier beside Math-Verify on the shared equivalence cases, in one run.

Both sides get the same inputs: the raw ``gold`` and ``pred`` strings of
``../shared/data/math_equiv_public.jsonl`` (both are extracted from, as the file's ``full_response``
rows need). assay: ``MathVerifier(fallback="last").verify(pred, gold)``: the opt-in flexible
extraction (the last math span or number of unmarked prose), as Math-Verify extracts; the
training default (``fallback="whole"``) takes no number out of prose and would reject the rows
whose answer is only stated in a sentence. Math-Verify 0.9 with its defaults:
``verify(parse(gold), parse(pred))``. A second Math-Verify column ("MV wrapped") wraps bare inputs
in ``$...$`` first, its best configuration on this file; it is scored for accuracy only.

Printed: accuracy, false accepts (said equivalent, is not) and false rejects per category on the
non-debatable cases; the debatable cases apart; throughput (verifications/s) and p50/p99 latency
of each side, single process, serially in the main thread. assay compares in one worker process
(started and warmed before timing; one-time start-up is not in the numbers) and its result cache
is cleared first (every row is distinct anyway). Math-Verify is warmed with one call too.

    .venv/bin/python benchmarks/math_verifier.py [--data PATH] [--rounds 1] [--show-misses]

Needs Math-Verify (``pip install "assay[bench]"``); without it only assay's side is printed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assay.verifiers.base import Status
from assay.verifiers.math import MathVerifier, clear_cache

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "math_equiv_public.jsonl"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assay_fn(timeout_s: float) -> Callable[[str, str], bool]:
    verifier = MathVerifier(timeout_s=timeout_s, fallback="last")
    verifier.warm()

    def run(gold: str, pred: str) -> bool:
        return verifier.verify(pred, gold).status is Status.CORRECT

    return run


def math_verify_fns() -> tuple[Callable[[str, str], bool], Callable[[str, str], bool]] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def default(gold: str, pred: str) -> bool:
        try:
            return bool(verify(parse(gold), parse(pred)))
        except Exception:
            return False

    def wrap(s: str) -> str:
        return s if any(m in s for m in ("$", "\\boxed", "\\(", "\\[")) else f"${s}$"

    def wrapped(gold: str, pred: str) -> bool:
        return default(wrap(gold), wrap(pred))

    return default, wrapped


def timed(
    fn: Callable[[str, str], bool], rows: list[dict[str, Any]]
) -> tuple[list[bool], list[float], float]:
    verdicts, latencies = [], []
    start = time.perf_counter()
    for r in rows:
        t = time.perf_counter()
        verdicts.append(fn(r["gold"], r["pred"]))
        latencies.append(time.perf_counter() - t)
    return verdicts, latencies, time.perf_counter() - start


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def score(rows: list[dict[str, Any]], verdicts: list[bool]) -> dict[str, list[int]]:
    """category -> [n, right, false accepts, false rejects]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r, v in zip(rows, verdicts, strict=True):
        c = out[r["category"]]
        c[0] += 1
        c[1] += v == r["equivalent"]
        c[2] += v and not r["equivalent"]
        c[3] += (not v) and r["equivalent"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--timeout", type=float, default=5.0, help="assay's per-comparison budget (s)")
    ap.add_argument("--rounds", type=int, default=1, help="timed passes per side (median round reported)")
    ap.add_argument("--show-misses", action="store_true", help="list every case a side gets wrong")
    args = ap.parse_args()

    rows = load(args.data)
    firm = [r for r in rows if not r["debatable"]]
    debatable = [r for r in rows if r["debatable"]]
    sides: dict[str, Callable[[str, str], bool]] = {"assay": assay_fn(args.timeout)}
    mv = math_verify_fns()
    if mv is None:
        print("math-verify is not installed (pip install 'assay[bench]'): assay only\n")
    else:
        sides["Math-Verify"] = mv[0]
        mv[0]("1", "1")  # warm: imports, grammar

    results: dict[str, dict[str, Any]] = {}
    for name, fn in sides.items():
        runs = []
        for _ in range(args.rounds):
            if name == "assay":
                clear_cache()
            runs.append(timed(fn, firm))
        runs.sort(key=lambda r: r[2])
        verdicts, lat, total = runs[len(runs) // 2]
        short = [t for r, t in zip(firm, lat, strict=True) if len(r["gold"]) < 200 and len(r["pred"]) < 200]
        results[name] = {
            "verdicts": verdicts,
            "per_s": len(firm) / total,
            "p50": pct(lat, 0.5) * 1e3,
            "p99": pct(lat, 0.99) * 1e3,
            "p99_short": pct(short, 0.99) * 1e3,
            "max": max(lat) * 1e3,
            "debatable": [fn(r["gold"], r["pred"]) for r in debatable],
        }
    if mv is not None:
        results["MV wrapped"] = {"verdicts": [mv[1](r["gold"], r["pred"]) for r in firm]}

    names = list(results)
    by = {n: score(firm, results[n]["verdicts"]) for n in names}
    cats = sorted({r["category"] for r in firm})
    head = f"{'category':24} {'n':>4} " + " ".join(f"{n + ' acc':>15} {'FA':>3} {'FR':>3}" for n in names)
    print(f"Non-debatable cases of {args.data.name}: {len(firm)}\n")
    print(head)
    print("-" * len(head))
    for c in cats:
        n = by[names[0]][c][0]
        cells = " ".join(
            f"{by[x][c][1]:>7}/{n:<3} {by[x][c][1] / n:>4.0%} {by[x][c][2]:>3} {by[x][c][3]:>3}"
            for x in names
        )
        print(f"{c:24} {n:>4} {cells}")
    print("-" * len(head))
    tot = len(firm)
    cells = []
    for x in names:
        right = sum(v[1] for v in by[x].values())
        cells.append(
            f"{right:>7}/{tot:<3} {right / tot:>4.1%} {sum(v[2] for v in by[x].values()):>3} {sum(v[3] for v in by[x].values()):>3}"
        )
    print(f"{'all':24} {tot:>4} " + " ".join(cells))
    if "Math-Verify" in results:
        worse = [c for c in cats if by["assay"][c][1] < max(by["Math-Verify"][c][1], by["MV wrapped"][c][1])]
        print(f"\ncategories where assay is below Math-Verify (either config): {worse or 'none'}")

    print(f"\nDebatable cases (reported apart): {len(debatable)}")
    for x in names:
        if "debatable" in results[x]:
            agree = sum(v == r["equivalent"] for v, r in zip(results[x]["debatable"], debatable, strict=True))
            accepted = sum(results[x]["debatable"])
            print(f"  {x:12} agrees with the file's label on {agree}/{len(debatable)}; accepts {accepted}")

    print("\nSpeed on the non-debatable cases (single process, serial, main thread):")
    print(f"  {'side':12} {'verif/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99 <200ch':>11} {'max ms':>8}")
    for x in names:
        r = results[x]
        if "per_s" in r:
            print(
                f"  {x:12} {r['per_s']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['p99_short']:>11.2f} {r['max']:>8.1f}"
            )
    if "Math-Verify" in results:
        print(
            f"  throughput ratio assay / Math-Verify: {results['assay']['per_s'] / results['Math-Verify']['per_s']:.1f}x"
        )

    if args.show_misses:
        for x in names:
            misses = [
                r["id"] for r, v in zip(firm, results[x]["verdicts"], strict=True) if v != r["equivalent"]
            ]
            print(f"\n{x} misses ({len(misses)}): {' '.join(misses)}")


if __name__ == "__main__":
    main()
