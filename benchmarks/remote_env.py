"""Remote env sessions under load: N concurrent WebSocket sessions against ``assay serve`` on loopback.

For each env (Arithmetic, single-turn; Almanac, a tool env) the script starts ``assay serve`` in a
subprocess, opens ``--sessions`` WebSocket sessions at once (OpenEnv's protocol, as `RemoteEnv`
speaks it) and runs episodes in every session for ``--duration`` seconds: ``reset(seed)``, then
the gold actions. Each reply is checked against the same env stepped locally with the same seed:
a different prompt or a reward other than the gold's is a *crossed* session; a connection that
fails is a *lost* one. Beside it, the same episodes stepped in-process (no network) for the
same wall time.

Prints one table: per env and mode, episodes, steps/s, p50 and p99 step latency (client side,
send to reply), lost and crossed sessions.

    python benchmarks/remote_env.py --sessions 200 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import assay

ENVS = ("assay/Arithmetic-v0", "assay/Almanac-v0")

SERVER = """
import sys
from assay.serve.app import ServeConfig
from assay.serve.server import run
envs = tuple(sys.argv[2].split(","))
run(ServeConfig(envs=envs, max_sessions=4096, max_sessions_per_client=4096, threads=int(sys.argv[3])),
    port=int(sys.argv[1]), log_level="warning")
"""


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    episodes: int = 0
    lost: int = 0
    crossed: int = 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _expected(local, seed: int) -> tuple[str, list[str], float]:
    prompt, _ = local.reset(seed=seed)
    actions = local.gold_actions(local.task)
    return prompt, actions, float(local.rubric.bounds[1])


async def _session(url: str, env_id: str, local, index: int, stop: float, tally: Tally) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(f"ws{url[4:]}/v1/envs/{env_id}/ws", max_size=2**24, compression=None) as ws:

            async def call(kind: str, data: dict) -> dict:
                await ws.send(json.dumps({"type": kind, "data": data}))
                reply = json.loads(await ws.recv())
                if reply["type"] == "error":
                    raise RuntimeError(reply["data"])
                return reply["data"]

            episode = 0
            while time.monotonic() < stop:
                seed = index * 1_000_003 + episode
                prompt, actions, best = _expected(local, seed)
                got = await call("reset", {"seed": seed})
                ok = got["observation"]["text"] == prompt
                total = 0.0
                for action in actions:
                    start = time.perf_counter()
                    out = await call("step", {"text": action})
                    tally.latencies.append(time.perf_counter() - start)
                    total += out["reward"] or 0.0
                ok = ok and out["done"] and total == best
                tally.crossed += not ok
                tally.episodes += 1
                episode += 1
    except Exception as e:
        tally.lost += 1
        print(f"session {index} lost: {type(e).__name__}: {e}", file=sys.stderr)


async def _remote(url: str, env_id: str, sessions: int, duration: float) -> tuple[Tally, float]:
    tally = Tally()
    # The client's reference envs are built before any connection: building 200 of them inside
    # the event loop blocked it past the client's 10 s opening-handshake timeout.
    locals_ = [assay.make(env_id).unwrapped for _ in range(sessions)]
    start = time.monotonic()
    stop = start + duration
    await asyncio.gather(*(_session(url, env_id, locals_[i], i, stop, tally) for i in range(sessions)))
    return tally, time.monotonic() - start


def _local(env_id: str, duration: float) -> tuple[Tally, float]:
    tally = Tally()
    env = assay.make(env_id).unwrapped
    check = assay.make(env_id).unwrapped
    start = time.monotonic()
    episode = 0
    while time.monotonic() - start < duration:
        prompt, actions, best = _expected(check, episode)
        got, _ = env.reset(seed=episode)
        total = 0.0
        for action in actions:
            t = time.perf_counter()
            _, reward, terminated, truncated, _ = env.step(action)
            tally.latencies.append(time.perf_counter() - t)
            total += float(reward)
        tally.crossed += not (got == prompt and total == best)
        tally.episodes += 1
        episode += 1
    return tally, time.monotonic() - start


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3 if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per env")
    parser.add_argument("--threads", type=int, default=8, help="the server's env threads")
    args = parser.parse_args()

    rows = []
    for env_id in ENVS:
        port = _port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), ",".join(ENVS), str(args.threads)],
            env={**os.environ, "PYTHONSAFEPATH": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            import httpx

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            tally, wall = asyncio.run(_remote(url, env_id, args.sessions, args.duration))
        finally:
            server.terminate()
            server.wait(30)
        rows.append((env_id, f"remote x{args.sessions}", tally, wall))
        tally, wall = _local(env_id, min(args.duration, 10.0))
        rows.append((env_id, "in-process x1", tally, wall))

    print(f"\n{args.sessions} concurrent WebSocket sessions on loopback, {args.duration:.0f} s per env")
    header = f"{'env':<22} {'mode':<14} {'episodes':>9} {'steps/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'lost':>5} {'crossed':>8}"
    print(header)
    print("-" * len(header))
    for env_id, mode, t, wall in rows:
        print(
            f"{env_id:<22} {mode:<14} {t.episodes:>9} {len(t.latencies) / wall:>9.0f} "
            f"{_pct(t.latencies, 0.5):>8.2f} {_pct(t.latencies, 0.99):>8.2f} {t.lost:>5} {t.crossed:>8}"
        )


if __name__ == "__main__":
    main()
