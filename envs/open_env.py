"""OpenEnv interop: an env served by an OpenEnv server as an assay env, scored by its own reward.

``assay.envs.from_openenv("http://127.0.0.1:8000", action_field="message")`` builds an
`OpenEnvEnv` (a `PeerEpisodeEnv`) that holds one session with the server over OpenEnv's WebSocket
protocol (``WS <url>/ws``: ``{"type": "reset", "data": {"seed"}}``, ``{"type": "step", "data":
<action fields>}``, replies ``{"type": "observation", "data": {"observation", "reward",
"done"}}``). The policy's text goes into the action's ``action_field``; the observation's
``observation_field`` (or its only string field, or else its JSON) is what the policy sees. When
the server says ``done``, its ``reward`` is the verdict (`PeerOutcome` over ``reward_range``).

Needs the ``serve`` extra (``websockets``), not ``openenv-core``: the protocol is spoken directly,
so the server may run anywhere (its own venv, a container, a Hugging Face Space). A bearer
``token`` is sent on the handshake for servers behind a proxy that checks one.

Not guaranteed: that the server seeds its episodes from ``seed`` (OpenEnv's ``reset`` takes one;
an env may ignore it), that a session survives the server's own idle timeout.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from assay.envs.peer_episode import PeerEpisodeEnv, PeerStep
from assay.errors import AssayError

__all__ = ["OpenEnvEnv", "OpenEnvError", "from_openenv"]


class OpenEnvError(AssayError):
    """The OpenEnv server refused a request or the session was lost (``code``: the wire code)."""

    def __init__(self, message: str, code: str = "ERROR") -> None:
        super().__init__(message)
        self.code = code


def _ws_url(url: str) -> str:
    base = url.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base[len(http) :]
    return base if base.endswith("/ws") else base + "/ws"


class OpenEnvEnv(PeerEpisodeEnv):
    """One session with an OpenEnv server (module docstring).

    Args:
        url: The server's base URL (``http://host:port``) or its ``ws://.../ws`` URL.
        action_field: The action field that carries the policy's text.
        observation_field: The observation field shown to the policy (default: the only string
            field, else the observation as JSON).
        action_extra: Fixed fields added to every action.
        token: Bearer token for the handshake.
        timeout_s: Seconds to wait for the handshake and for each reply.
        kwargs: `PeerEpisodeEnv`'s (``reward_range``, ``partial_credit``, ``max_turns``...).
    """

    def __init__(
        self,
        url: str,
        *,
        action_field: str = "message",
        observation_field: str | None = None,
        action_extra: dict[str, Any] | None = None,
        token: str | None = None,
        timeout_s: float = 60.0,
        **kwargs: Any,
    ) -> None:
        from websockets.sync.client import connect

        super().__init__(**kwargs)
        self.url, self.timeout_s = url, timeout_s
        self.action_field, self.observation_field = action_field, observation_field
        self.action_extra = dict(action_extra or {})
        self.prefix = f"openenv/{url.split('://', 1)[-1].rstrip('/')}"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._stack = contextlib.ExitStack()
        try:
            self._ws: Any = self._stack.enter_context(
                connect(
                    _ws_url(url),
                    additional_headers=headers,
                    open_timeout=timeout_s,
                    max_size=64 * 2**20,
                    compression=None,
                )
            )
        except Exception as e:  # noqa: BLE001 - no server, refused handshake: one error
            raise OpenEnvError(f"cannot open a session at {url}: {type(e).__name__}: {e}") from None

    def _call(self, kind: str, data: dict[str, Any] | None) -> dict[str, Any]:
        if self._ws is None:
            raise OpenEnvError("the session is closed", "SESSION_CLOSED")
        try:
            message: dict[str, Any] = {"type": kind} if data is None else {"type": kind, "data": data}
            self._ws.send(json.dumps(message))
            reply = json.loads(self._ws.recv(timeout=self.timeout_s))
        except TimeoutError:
            raise OpenEnvError(f"no reply to {kind} within {self.timeout_s} s", "TIMEOUT") from None
        except Exception as e:  # noqa: BLE001 - closed by the server or the network
            raise OpenEnvError(f"session at {self.url} lost: {type(e).__name__}: {e}") from None
        if not isinstance(reply, dict) or reply.get("type") == "error":
            detail = reply.get("data") if isinstance(reply, dict) else None
            detail = detail if isinstance(detail, dict) else {}
            raise OpenEnvError(str(detail.get("message", reply)), str(detail.get("code", "ERROR")))
        data = reply.get("data")
        return data if isinstance(data, dict) else {}

    def _text(self, payload: dict[str, Any]) -> str:
        observation = payload.get("observation")
        if not isinstance(observation, dict):
            return "" if observation is None else str(observation)
        if self.observation_field is not None:
            return str(observation.get(self.observation_field, ""))
        strings = [v for v in observation.values() if isinstance(v, str)]
        return strings[0] if len(strings) == 1 else json.dumps(observation, sort_keys=True)

    def start(self, seed: int) -> str:
        """OpenEnv ``reset`` with ``seed``: the first observation's text."""
        return self._text(self._call("reset", {"seed": seed}))

    def advance(self, action: str) -> PeerStep:
        """OpenEnv ``step`` with the text in ``action_field``.

        A step the server refuses (an action its schema rejects) is shown to the policy as an
        ``error: ...`` observation; a lost session raises (an ERROR verdict in `MultiTurnEnv`).
        """
        try:
            payload = self._call("step", {**self.action_extra, self.action_field: action})
        except OpenEnvError as e:
            if e.code == "VALIDATION_ERROR":
                return PeerStep(f"error: {e}", False)
            raise
        reward = payload.get("reward")
        reward = float(reward) if isinstance(reward, (int, float)) else None
        return PeerStep(self._text(payload), bool(payload.get("done")), reward)

    def state(self) -> dict[str, Any]:
        """The server's ``state`` of this session (``episode_id``, ``step_count``...)."""
        return self._call("state", None)

    def close(self) -> None:
        """End the session (``{"type": "close"}``) and the connection."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            with contextlib.suppress(Exception):  # already closed by the server
                ws.send(json.dumps({"type": "close"}))
            self._stack.close()
            self._ws = None
        super().close()


def from_openenv(url: str, **kwargs: Any) -> OpenEnvEnv:
    """An OpenEnv server's env as an assay env; ``kwargs`` are `OpenEnvEnv`'s."""
    return OpenEnvEnv(url, **kwargs)
