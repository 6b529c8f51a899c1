"""`RemoteEnv`: a `gymnasium.Env` whose episodes run in an ``assay serve`` process.

``RemoteEnv(url, env="assay/Arithmetic-v0")`` opens one WebSocket session
(``/v1/envs/<env>/ws``, OpenEnv's reset/step/state protocol; see `assay.serve.sessions`) and keeps
it for the env's life, so ``assay.make_vec`` and the trainers use remote envs unchanged
(``assay.make("assay/Remote-v0", url=..., env=...)``). Observations and actions are text, as for
every assay env; ``info`` comes back as JSON, with ``info["verdict"]`` rebuilt as a `Verdict`.

Errors: a server refusal (unknown env, session limit, bad reset options) raises `RemoteEnvError`
with the server's code; a lost connection raises `RemoteEnvError` too (the episode is gone: the
server closed its session). ``step`` before ``reset`` raises ``gymnasium.error.ResetNeeded``.

Not guaranteed: ``reset(seed=s)`` gives the same task as the local env only when the server runs
the same assay version and env settings (the task is drawn on the server); the server's env
settings (``env_kwargs``) are the operator's, not the client's.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, SupportsFloat

import gymnasium as gym

from assay.envs.spaces import Utf8Text
from assay.errors import AssayError
from assay.verifiers.base import Verdict

__all__ = ["RemoteEnv", "RemoteEnvError"]


class RemoteEnvError(AssayError):
    """The server refused a request (``code`` is its error code) or the connection was lost."""

    def __init__(self, message: str, code: str = "CONNECTION") -> None:
        super().__init__(message)
        self.code = code


def _ws_url(url: str, env: str) -> str:
    base = url.rstrip("/")
    if base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    elif base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif not base.startswith(("ws://", "wss://")):
        raise ValueError(f"url must start with http://, https://, ws:// or wss://, got {url!r}")
    return f"{base}/v1/envs/{env}/ws"


class RemoteEnv(gym.Env[str, str]):
    """An env served by ``assay serve`` at ``url`` (see the module docstring).

    Args:
        url: The server, e.g. ``http://127.0.0.1:8000``.
        env: The env id on the server.
        token: The server's bearer token (default: none).
        timeout_s: Longest wait for one reply (a step includes the server's verification).
        max_chars: Size of the observation and action spaces.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's type

    def __init__(
        self,
        url: str,
        env: str,
        *,
        token: str | None = None,
        timeout_s: float = 60.0,
        max_chars: int = 32_768,
    ) -> None:
        from websockets.sync.client import connect

        self.url, self.env_id, self.timeout_s = url, env, timeout_s
        self.observation_space = Utf8Text(max_chars)
        self.action_space = Utf8Text(max_chars)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._stack = contextlib.ExitStack()
        self._ws: Any = None
        try:
            self._ws = self._stack.enter_context(
                connect(
                    _ws_url(url, env),
                    additional_headers=headers,
                    open_timeout=timeout_s,
                    max_size=64 * 2**20,
                    compression=None,
                )
            )
        except Exception as e:  # noqa: BLE001 - refused handshake, no server, bad token: one error
            raise RemoteEnvError(
                f"cannot open a session on {env} at {url}: {type(e).__name__}: {e}"
            ) from None
        self._running = False

    def _call(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            self._ws.send(json.dumps({"type": kind, "data": data or {}}))
            raw = self._ws.recv(timeout=self.timeout_s)
        except TimeoutError:
            raise RemoteEnvError(f"no reply to {kind} within {self.timeout_s} s", "TIMEOUT") from None
        except Exception as e:  # noqa: BLE001 - closed by the server (idle timeout, shutdown) or the network
            raise RemoteEnvError(f"session on {self.env_id} lost: {type(e).__name__}: {e}") from None
        reply = json.loads(raw)
        if reply.get("type") == "error":
            detail = reply.get("data") or {}
            raise RemoteEnvError(str(detail.get("message", "error")), str(detail.get("code", "ERROR")))
        data_out: dict[str, Any] = reply.get("data") or {}
        return data_out

    @staticmethod
    def _info(payload: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = dict(payload.get("observation", {}).get("info") or {})
        verdict = info.get("verdict")
        if isinstance(verdict, dict):
            info["verdict"] = Verdict.from_dict(verdict)
        return info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A new episode on the server (``options``: ``task_id`` or ``index``)."""
        super().reset(seed=seed)
        data: dict[str, Any] = dict(options or {})
        if seed is not None:
            data["seed"] = int(seed)
        payload = self._call("reset", data)
        self._running = True
        return str(payload["observation"]["text"]), self._info(payload)

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """One action, verified on the server."""
        if not self._running:
            raise gym.error.ResetNeeded("call reset() before step()")
        payload = self._call("step", {"text": action})
        terminated, truncated = bool(payload["terminated"]), bool(payload["truncated"])
        self._running = not (terminated or truncated)
        reward = payload.get("reward")
        return (
            str(payload["observation"]["text"]),
            float(reward if reward is not None else 0.0),
            terminated,
            truncated,
            self._info(payload),
        )

    def state(self) -> dict[str, Any]:
        """The server's view of the session: ``episode_id``, ``step_count``, ``task_id``..."""
        return self._call("state")

    def close(self) -> None:
        """End the session (the server frees its env)."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            with contextlib.suppress(Exception):  # already closed by the server: nothing to end
                ws.send(json.dumps({"type": "close"}))
            self._stack.close()
            self._ws = None
        super().close()
