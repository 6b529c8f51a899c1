"""Properties of every logic family, over seeds and levels (hypothesis).

For each family: the gold answer earns full reward; a perturbed gold is rejected; other valid
answers are accepted where they exist; uniqueness, where claimed, holds under an independent
brute-force solver on small instances (these solvers share no code with the generators).
"""

import itertools
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.envs.logic.countdown import CountdownEnv
from assay.envs.logic.cryptarithm import CryptarithmEnv
from assay.envs.logic.entailment import EntailmentEnv
from assay.envs.logic.graph_coloring import GraphColoringEnv
from assay.envs.logic.knights_knaves import KnightsKnavesEnv
from assay.envs.logic.maze import MazeEnv
from assay.envs.logic.nonogram import NonogramEnv
from assay.envs.logic.puzzle import PuzzleEnv, puzzle_rng
from assay.envs.logic.sat import SatEnv
from assay.envs.logic.seeding import SeedStream
from assay.envs.logic.sequence import SequenceEnv
from assay.envs.logic.sudoku import SudokuEnv
from assay.envs.logic.syllogism import SyllogismEnv
from assay.envs.logic.zebra import ZebraEnv
from assay.verifiers.base import Status

INDEX = st.integers(0, 2**31 - 1)

FAMILIES = {
    KnightsKnavesEnv: ["easy", "medium", "hard", "expert"],
    SudokuEnv: ["easy", "medium", "hard", "expert"],
    ZebraEnv: ["easy", "medium"],
    CountdownEnv: ["easy", "medium", "hard"],
    GraphColoringEnv: ["easy", "medium", "hard", "expert"],
    SatEnv: ["easy", "medium", "hard", "expert"],
    MazeEnv: ["easy", "medium", "hard", "expert"],
    CryptarithmEnv: ["easy", "medium", "hard"],
    NonogramEnv: ["easy", "medium", "hard", "expert"],
    SequenceEnv: ["easy", "medium", "hard"],
    SyllogismEnv: ["easy", "medium", "hard"],
    EntailmentEnv: ["easy", "medium", "hard", "expert"],
}
ENVS = {(cls, lvl): cls(lvl) for cls, lvls in FAMILIES.items() for lvl in lvls}
CASES = sorted(ENVS, key=lambda k: (k[0].__name__, k[1]))


def verdict(env: PuzzleEnv, task, answer: str):
    return env.verifier(f"<answer>{answer}</answer>", task)


def ans(text: str) -> str:
    return f"<answer>{text}</answer>"


# -- every family ----------------------------------------------------------------------


@given(salt=st.integers(0, 2**33), index=st.integers(0, 2**34), k=st.integers(1, 40))
def test_seed_stream_draws_what_numpys_generator_draws(salt, index, k):
    stream = SeedStream(salt)
    stream(index + 1).random(3)  # the shared generator was just used for another puzzle
    rng, ref = stream(index), puzzle_rng(salt, index)
    assert rng.random(k).tolist() == ref.random(k).tolist()
    assert rng.integers(0, 1000, size=k).tolist() == ref.integers(0, 1000, size=k).tolist()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].__name__}-{c[1]}")
@given(index=INDEX)
def test_gold_earns_full_reward(case, index):
    env = ENVS[case]
    env.reset(options={"index": index})
    _, reward, terminated, _, info = env.step(env.gold(env.task))
    assert reward == 1.0 and terminated and info["verdict"].status is Status.CORRECT


@pytest.mark.parametrize("cls", list(FAMILIES), ids=lambda c: c.__name__)
@given(index=INDEX, text=st.text(max_size=300))
def test_any_text_in_answer_tags_gets_a_verdict(cls, index, text):
    env = ENVS[cls, FAMILIES[cls][0]]
    task = env.task_at(index)
    v = env.verifier(ans(text), task)
    assert v.status in (Status.CORRECT, Status.INCORRECT, Status.NO_ANSWER)
    assert v.status is not Status.NO_ANSWER or v.reason


@pytest.mark.parametrize("cls", list(FAMILIES), ids=lambda c: c.__name__)
@given(index=INDEX)
def test_missing_tags_is_no_answer_with_reason(cls, index):
    env = ENVS[cls, FAMILIES[cls][0]]
    task = env.task_at(index)
    v = env.verifier(task.answer or "", task)
    assert v.status is Status.NO_ANSWER and "answer" in v.reason


# -- Knights and Knaves -----------------------------------------------------------------


def kk_truth(op, lits, roles):
    vals = [roles[p] == c for p, c in lits]
    return {
        "lit": lambda: vals[0],
        "and": lambda: all(vals),
        "or": lambda: any(vals),
        "iff": lambda: vals[0] == vals[1],
        "nand": lambda: not all(vals),
        "nor": lambda: not any(vals),
    }[op]()


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard", "expert"]))
def test_knights_knaves_unique_by_brute_force_and_flips_fail(index, level):
    env = ENVS[KnightsKnavesEnv, level]
    task = env.task_at(index)
    names, statements = task.meta["names"], task.meta["statements"]
    sols = [
        roles
        for roles in itertools.product([True, False], repeat=len(names))
        if all(kk_truth(op, lits, roles) == roles[i] for i, (op, lits) in enumerate(statements))
    ]
    assert len(sols) == 1
    gold = ", ".join(f"{n}: {'knight' if r else 'knave'}" for n, r in zip(names, sols[0], strict=True))
    assert verdict(env, task, gold).correct
    for j in range(len(names)):
        roles = list(sols[0])
        roles[j] = not roles[j]
        flipped = ", ".join(f"{n}: {'knight' if r else 'knave'}" for n, r in zip(names, roles, strict=True))
        assert verdict(env, task, flipped).status is Status.INCORRECT


# -- Sudoku -----------------------------------------------------------------------------


def sudoku_solutions(grid, n, limit):
    """Plain backtracking over empty cells in order (independent of the generator's solver)."""
    box = {4: (2, 2), 6: (2, 3), 9: (3, 3)}[n]
    grid = list(grid)
    out = []

    def ok(i, v):
        r, c = divmod(i, n)
        if any(grid[r * n + k] == v for k in range(n)) or any(grid[k * n + c] == v for k in range(n)):
            return False
        br, bc = r - r % box[0], c - c % box[1]
        return not any(grid[(br + a) * n + bc + b] == v for a in range(box[0]) for b in range(box[1]))

    def rec(i):
        if len(out) >= limit:
            return
        while i < n * n and grid[i]:
            i += 1
        if i == n * n:
            out.append(list(grid))
            return
        for v in range(1, n + 1):
            if ok(i, v):
                grid[i] = v
                rec(i + 1)
                grid[i] = 0

    rec(0)
    return out


def grid_text(grid, n):
    return "\n".join("".join(map(str, grid[r * n : (r + 1) * n])) for r in range(n))


@given(index=INDEX, clues=st.integers(0, 10))
def test_sudoku_accepts_every_completion_and_rejects_a_changed_cell(index, clues):
    env = SudokuEnv(size=4, clues=clues)
    task = env.task_at(index)
    givens = task.meta["givens"]
    sols = sudoku_solutions(givens, 4, limit=50)
    assert sols
    for sol in sols[:10]:
        assert verdict(env, task, grid_text(sol, 4)).correct
    bad = list(sols[0])
    i = next((k for k in range(16) if not givens[k]), 0)
    bad[i] = bad[i] % 4 + 1
    assert verdict(env, task, grid_text(bad, 4)).status is Status.INCORRECT


@given(index=INDEX)
@settings(max_examples=15)
def test_sudoku_unique_option_is_unique_by_brute_force(index):
    env = SudokuEnv(size=4, clues=4, unique=True)
    task = env.task_at(index)
    assert len(sudoku_solutions(task.meta["givens"], 4, limit=2)) == 1


@given(index=INDEX, level=st.sampled_from(["medium", "hard"]))
def test_sudoku_perturbed_gold_fails(index, level):
    env = ENVS[SudokuEnv, level]
    task = env.task_at(index)
    n = task.meta["size"]
    gold = [int(ch) for ch in task.answer if ch.isdigit()]
    i = next(k for k in range(n * n) if not task.meta["givens"][k])
    gold[i] = gold[i] % n + 1
    assert verdict(env, task, grid_text(gold, n)).status is Status.INCORRECT


# -- Zebra ------------------------------------------------------------------------------


def zebra_holds(kind, item, other, houses):
    h = houses[item[0]][item[1]]
    if kind == "at":
        return h == other
    if kind == "not_at":
        return h != other
    g = houses[other[0]][other[1]]
    return {"same": h == g, "not_same": h != g, "left": h + 1 == g, "next": abs(h - g) == 1, "before": h < g}[
        kind
    ]


@given(index=INDEX, houses=st.integers(2, 3), attributes=st.integers(2, 4))
@settings(max_examples=20)
def test_zebra_unique_by_brute_force(index, houses, attributes):
    env = ZebraEnv(houses=houses, attributes=attributes)
    task = env.task_at(index)
    perms = list(itertools.permutations(range(houses)))
    sols = [
        combo
        for combo in itertools.product(perms, repeat=attributes)
        if all(
            zebra_holds(k, tuple(i), tuple(o) if isinstance(o, list) else o, combo)
            for k, i, o in task.meta["clues"]
        )
    ]
    assert len(sols) == 1
    assert [list(p) for p in sols[0]] == [list(p) for p in task.meta["solution"]]


@given(index=INDEX, level=st.sampled_from(["easy", "medium"]), data=st.data())
def test_zebra_swapping_two_houses_fails(index, level, data):
    env = ENVS[ZebraEnv, level]
    task = env.task_at(index)
    rows = [line.split(": ", 1) for line in task.answer.splitlines()]
    cells = [r[1].split(", ") for r in rows]
    a = data.draw(st.integers(0, len(cells[0]) - 1))
    h1, h2 = data.draw(st.sampled_from(list(itertools.combinations(range(len(cells)), 2))))
    cells[h1][a], cells[h2][a] = cells[h2][a], cells[h1][a]
    text = "\n".join(f"{i + 1}: {', '.join(c)}" for i, c in enumerate(cells))
    assert verdict(env, task, text).status is Status.INCORRECT
    shuffled = "\n".join(reversed(task.answer.upper().splitlines()))
    assert verdict(env, task, shuffled).correct  # any line order, any case


# -- Countdown --------------------------------------------------------------------------


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard"]))
def test_countdown_alternatives_and_perturbations(index, level):
    env = ENVS[CountdownEnv, level]
    task = env.task_at(index)
    gold = task.answer
    assert verdict(env, task, f"(({gold}))").correct
    # reorder the operands of a top-level + or *: a different valid expression
    flipped = re.sub(r"^\((.*)\) ([+*]) (\d+)$", r"\3 \2 (\1)", gold)
    assert verdict(env, task, flipped).correct
    assert verdict(env, task, f"{gold} = {task.meta['target']}").correct
    assert verdict(env, task, f"({gold}) - ({gold})").status is Status.INCORRECT  # numbers reused
    assert verdict(env, task, f"{gold} + 1").status is Status.INCORRECT
    assert verdict(env, task, "__import__('os')").status is Status.NO_ANSWER


# -- Graph colouring, SAT ---------------------------------------------------------------


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard", "expert"]), data=st.data())
def test_graph_coloring_accepts_recoloured_and_rejects_a_clash(index, level, data):
    env = ENVS[GraphColoringEnv, level]
    task = env.task_at(index)
    k = task.meta["colors"]
    colours = [int(c) for c in task.answer.split(", ")]
    shown = re.search(r"Edges: (.*)\n", task.prompt).group(1).split(", ")
    assert shown == [f"{a}-{b}" for a, b in task.meta["edges"]]  # the prompt shows the checked graph
    assert all(colours[a] != colours[b] for a, b in task.meta["edges"])  # the planted colouring
    perm = data.draw(st.permutations(range(1, k + 1)))
    recoloured = [perm[c - 1] for c in colours]
    assert verdict(env, task, ", ".join(map(str, recoloured))).correct
    assert verdict(
        env, task, ", ".join(f"{v}: {c}" for v, c in reversed(list(enumerate(recoloured))))
    ).correct
    a, b = data.draw(st.sampled_from(task.meta["edges"]))
    clash = list(colours)
    clash[a] = clash[b]
    assert verdict(env, task, ", ".join(map(str, clash))).status is Status.INCORRECT


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard"]))
def test_sat_accepts_exactly_the_satisfying_assignments(index, level):
    env = ENVS[SatEnv, level]
    task = env.task_at(index)
    n, clauses = task.meta["variables"], task.meta["clauses"]
    for bits in itertools.islice(itertools.product([0, 1], repeat=n), 0, 2**n, max(1, 2**n // 64)):
        sat = all(any(bits[v] == s for v, s in c) for c in clauses)
        v = verdict(env, task, ", ".join(f"x{i + 1}={b}" for i, b in enumerate(bits)))
        assert v.correct == sat  # every satisfying assignment accepted, every other rejected


# -- Maze -------------------------------------------------------------------------------


def all_shortest_routes(task, cap=50):
    lines = task.meta["grid"].split("\n")
    rows, cols = len(lines), len(lines[0])
    start, goal = divmod(task.meta["start"], cols), divmod(task.meta["goal"], cols)
    dist = {start: 0}
    frontier = [start]
    while frontier:
        nxt = []
        for r, c in frontier:
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                p = (r + dr, c + dc)
                if 0 <= p[0] < rows and 0 <= p[1] < cols and lines[p[0]][p[1]] != "#" and p not in dist:
                    dist[p] = dist[(r, c)] + 1
                    nxt.append(p)
        frontier = nxt
    routes = []

    def back(cell, path):
        if len(routes) >= cap:
            return
        if cell == start:
            routes.append("".join(reversed(path)))
            return
        for letter, (dr, dc) in {"D": (1, 0), "U": (-1, 0), "R": (0, 1), "L": (0, -1)}.items():
            prev = (cell[0] - dr, cell[1] - dc)
            if dist.get(prev) == dist[cell] - 1:
                back(prev, [*path, letter])

    back(goal, [])
    return dist[goal], routes


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard", "expert"]))
def test_maze_accepts_every_shortest_route_and_rejects_longer(index, level):
    env = ENVS[MazeEnv, level]
    task = env.task_at(index)
    grid = task.meta["grid"]
    assert grid in task.prompt and grid.count("S") == grid.count("G") == 1
    cells = grid.replace("\n", "")
    assert cells[task.meta["start"]] == "S" and cells[task.meta["goal"]] == "G"
    assert {len(line) for line in grid.split("\n")} == {env.cols} and len(cells) == env.rows * env.cols
    best, routes = all_shortest_routes(task)
    assert best == task.meta["distance"] == len(task.answer)
    for route in routes:
        assert verdict(env, task, " ".join(route)).correct
    assert verdict(env, task, task.answer + "UD").status is Status.INCORRECT
    assert verdict(env, task, task.answer + "DU").status is Status.INCORRECT
    assert verdict(env, task, task.answer[:-1]).status is Status.INCORRECT


# -- Cryptarithm -------------------------------------------------------------------------


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard"]), data=st.data())
def test_cryptarithm_checker_agrees_with_arithmetic(index, level, data):
    env = ENVS[CryptarithmEnv, level]
    task = env.task_at(index)
    shown = [line.strip(" +-") for line in task.prompt.split("\n\n")[1].split("\n")]
    assert [w for w in shown if w] == [*task.meta["words"], task.meta["result"]]
    assert sorted(set("".join(shown))) == task.meta["letters"]
    digits = {p.split("=")[0]: int(p.split("=")[1]) for p in task.answer.split(", ")}
    a, b = data.draw(st.sampled_from(list(itertools.combinations(sorted(digits), 2)) or [(None, None)]))
    if a is not None:
        digits[a], digits[b] = digits[b], digits[a]

    def val(w):
        return int("".join(str(digits[ch]) for ch in w))

    words = [*task.meta["words"], task.meta["result"]]
    valid = sum(val(w) for w in task.meta["words"]) == val(task.meta["result"]) and not any(
        len(w) > 1 and digits[w[0]] == 0 for w in words
    )
    v = verdict(env, task, ", ".join(f"{ch}={d}" for ch, d in digits.items()))
    assert v.correct == valid
    first = sorted(digits)[0]
    dup = dict(digits)
    dup[first] = digits[sorted(digits)[1]]
    assert verdict(env, task, ", ".join(f"{ch}={d}" for ch, d in dup.items())).status is Status.INCORRECT


# -- Nonogram ---------------------------------------------------------------------------


def runs_of(line):
    out = [len(g) for g in "".join("#" if x else "." for x in line).split(".") if g]
    return out or [0]


@given(index=INDEX, level=st.sampled_from(["easy", "medium"]), data=st.data())
def test_nonogram_accepts_every_solution_and_rejects_a_flip(index, level, data):
    env = ENVS[NonogramEnv, level]
    task = env.task_at(index)
    rows, cols = task.meta["rows"], task.meta["cols"]
    width = len(cols)
    options = [
        [bits for bits in itertools.product([0, 1], repeat=width) if runs_of(bits) == list(rc)] for rc in rows
    ]
    sols = [
        g
        for g in itertools.product(*options)
        if all(runs_of(col) == list(cc) for col, cc in zip(zip(*g, strict=True), cols, strict=True))
    ]
    assert sols
    for g in sols[:10]:
        assert verdict(env, task, "\n".join("".join("#" if x else "." for x in r) for r in g)).correct
    r = data.draw(st.integers(0, len(rows) - 1))
    c = data.draw(st.integers(0, width - 1))
    lines = [list(line) for line in task.answer.splitlines()]
    lines[r][c] = "." if lines[r][c] == "#" else "#"
    assert verdict(env, task, "\n".join("".join(line) for line in lines)).status is Status.INCORRECT


# -- Sequence ---------------------------------------------------------------------------


def lagrange_next(points, x):
    total = Fraction(0)
    for i, (xi, yi) in enumerate(points):
        term = Fraction(yi)
        for j, (xj, _) in enumerate(points):
            if i != j:
                term *= Fraction(x - xj, xi - xj)
        total += term
    return total


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard"]))
def test_sequence_continuation_is_determined_and_perturbation_fails(index, level):
    env = ENVS[SequenceEnv, level]
    task = env.task_at(index)
    expected = task.meta["expected"]
    if task.meta["kind"] == "pattern":
        shown = [int(x) for x in task.prompt.split(": ", 1)[1].split(", ...")[0].split(", ")]
        if "polynomial" in task.prompt:
            d = env.degree
            pts = list(enumerate(shown[: d + 1], start=1))
            full = [lagrange_next(pts, x) for x in range(1, len(shown) + len(expected) + 1)]
            assert full == shown + expected  # d + 1 terms fix the polynomial; the rest agree
        else:
            a1, a2, a3, a4 = shown[:4]
            det = a2 * a2 - a1 * a3
            p = Fraction(a3 * a2 - a1 * a4, det)
            q = Fraction(a2 * a4 - a3 * a3, det)
            seq = list(shown)
            for _ in expected:
                seq.append(p * seq[-1] + q * seq[-2])
            assert seq[len(shown) :] == expected
    else:
        assert expected in (sorted(expected), sorted(expected, reverse=True))
    wrong = list(expected)
    wrong[-1] += 1
    assert verdict(env, task, ", ".join(map(str, wrong))).status is Status.INCORRECT


# -- Syllogism, entailment --------------------------------------------------------------


def categorical(form, x, y, nonempty):
    if form == "all":
        return not any(r[x] and not r[y] for r in nonempty)
    if form == "no":
        return not any(r[x] and r[y] for r in nonempty)
    if form == "some":
        return any(r[x] and r[y] for r in nonempty)
    return any(r[x] and not r[y] for r in nonempty)


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard"]))
@settings(max_examples=20)
def test_syllogism_label_by_brute_force(index, level):
    env = ENVS[SyllogismEnv, level]
    task = env.task_at(index)
    t = task.meta["terms"]
    names = task.meta["names"]
    said = {
        "all": "all {} are {}",
        "no": "no {} are {}",
        "some": "some {} are {}",
        "some_not": "some {} are not {}",
    }
    lines = [said[f].format(names[x], names[y]) for f, x, y in task.meta["premises"]]
    f, x, y = task.meta["conclusion"]
    expected = "\n".join(f"{i}. {line[0].upper()}{line[1:]}." for i, line in enumerate(lines, start=1))
    assert (
        f":\n{expected}\n\nDoes it follow necessarily that {said[f].format(names[x], names[y])}?"
        in task.prompt
    )
    assert len(set(names)) == t == len(task.meta["premises"]) + 1
    regions = list(itertools.product([False, True], repeat=t))
    follows = True
    for model in itertools.product([False, True], repeat=len(regions)):
        nonempty = [r for r, on in zip(regions, model, strict=True) if on]
        if all(categorical(f, x, y, nonempty) for f, x, y in task.meta["premises"]):
            f, x, y = task.meta["conclusion"]
            if not categorical(f, x, y, nonempty):
                follows = False
                break
    assert task.answer == ("yes" if follows else "no")
    assert verdict(env, task, "no" if follows else "yes").status is Status.INCORRECT


def prop(f, values):
    op = f[0]
    if op == "atom":
        return values[f[1]]
    if op == "not":
        return not prop(f[1], values)
    a, b = prop(f[1], values), prop(f[2], values)
    return {"and": a and b, "or": a or b, "implies": (not a) or b, "iff": a == b}[op]


@given(index=INDEX, level=st.sampled_from(["easy", "medium", "hard", "expert"]))
def test_entailment_label_by_truth_table(index, level):
    env = ENVS[EntailmentEnv, level]
    task = env.task_at(index)
    rows = list(itertools.product([False, True], repeat=task.meta["atoms"]))
    models = [v for v in rows if all(prop(p, v) for p in task.meta["premises"])]
    assert models  # premises are satisfiable
    assert not all(prop(task.meta["conclusion"], v) for v in rows)  # not a tautology
    follows = all(prop(task.meta["conclusion"], v) for v in models)
    assert task.answer == ("yes" if follows else "no")
    assert verdict(env, task, "no" if follows else "yes").status is Status.INCORRECT


@given(data=st.data())
@settings(max_examples=30)
def test_zebra_solver_counts_like_brute_force_on_any_clue_set(data):
    from assay.envs.logic.zebra import CLUE_KINDS, count_solutions

    n, m = 3, 3
    perms = list(itertools.permutations(range(n)))
    item = st.tuples(st.integers(0, m - 1), st.integers(0, n - 1))
    unary = st.tuples(st.sampled_from(["at", "not_at"]), item, st.integers(0, n - 1))
    binary = st.tuples(st.sampled_from([k for k in CLUE_KINDS if k not in ("at", "not_at")]), item, item)
    clues = data.draw(st.lists(st.one_of(unary, binary), min_size=0, max_size=8))
    brute = sum(
        all(zebra_holds(k, i, o, combo) for k, i, o in clues) for combo in itertools.product(perms, repeat=m)
    )
    assert count_solutions(n, m, clues, limit=10_000) == brute
