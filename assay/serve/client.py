"""`VerifierClient`: the Python client of ``assay serve``.

Guarantees: a 429 (the server's back-pressure), a 502/503/504 or a connection failure is
retried up to ``max_retries`` times, waiting ``Retry-After`` when the server sends it, else a
jittered exponential backoff; each attempt is cut at ``timeout_s``. Other errors raise
`ServiceError` with the server's ``detail``. Results come back in request order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from assay.errors import AssayError
from assay.rewards.base import Reward
from assay.verifiers.base import Task, Verdict
from assay.verifiers.retry import RetryPolicy, retry_after_s

__all__ = ["Item", "ServiceError", "VerifierClient"]

_RETRY = frozenset({429, 502, 503, 504})


class ServiceError(AssayError):
    """The service refused a request or could not be reached after retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


Item = Mapping[str, Any]
"""One request item: ``{"env", "completion", "task" | "task_id", "env_kwargs"?}`` (see `item`)."""


def _task_json(task: Task | Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    if task is None:
        return None
    if isinstance(task, Task):
        return {"id": task.id, "prompt": task.prompt, "answer": task.answer, "meta": dict(task.meta)}
    if isinstance(task, str):
        return {"answer": task}
    return dict(task)


class VerifierClient:
    """Calls a running ``assay serve``.

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000"``.
        token: Bearer token, when the server requires one.
        timeout_s: Limit on one attempt.
        max_retries: Extra attempts after 429/502/503/504 or a connection error.
        backoff_s: First backoff (doubles per retry, jittered, capped at 5 s).

    ``max_retries`` and ``backoff_s`` become the client's ``retry`` (a `RetryPolicy`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.05,
    ) -> None:
        import httpx

        self.retry = RetryPolicy(max_retries, backoff_s, 5.0, (0.5, 1.5), _RETRY)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    @staticmethod
    def item(
        env: str,
        completion: str,
        *,
        task: Task | Mapping[str, Any] | str | None = None,
        task_id: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One request item. ``task`` is a `Task`, a dict, or just the reference answer."""
        out: dict[str, Any] = {"env": env, "completion": completion}
        if task is not None:
            out["task"] = _task_json(task)
        if task_id is not None:
            out["task_id"] = task_id
        if env_kwargs:
            out["env_kwargs"] = dict(env_kwargs)
        return out

    # -- calls ------------------------------------------------------------------------------

    def verify(self, env: str, completion: str, **kw: Any) -> Verdict:
        """The env's verdict on ``completion`` (keywords as `item`)."""
        data = self._post("/v1/verify", self.item(env, completion, **kw))
        return Verdict.from_dict(data["verdict"])

    def verify_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Verdicts for many items (see `item`), in order."""
        data = self._post("/v1/verify/batch", {"items": list(items)})
        return [Verdict.from_dict(r["verdict"]) for r in data["results"]]

    def reward(self, env: str, completion: str, **kw: Any) -> tuple[Reward, Verdict]:
        """The env's reward (total and terms) and verdict for ``completion``."""
        data = self._post("/v1/reward", self.item(env, completion, **kw))
        return Reward(float(data["reward"]), dict(data["terms"])), Verdict.from_dict(data["verdict"])

    def reward_batch(self, items: Sequence[Item]) -> list[tuple[Reward, Verdict]]:
        """Rewards and verdicts for many items, in order."""
        data = self._post("/v1/reward/batch", {"items": list(items)})
        return [
            (Reward(float(r["reward"]), dict(r["terms"])), Verdict.from_dict(r["verdict"]))
            for r in data["results"]
        ]

    def envs(self) -> list[str]:
        """The env ids the server verifies."""
        return [e["id"] for e in self._request("GET", "/v1/envs", None)["envs"]]

    def health(self) -> dict[str, Any]:
        """``/healthz``."""
        return self._request("GET", "/healthz", None)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> VerifierClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def _post(self, path: str, body: Any) -> dict[str, Any]:
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: Any) -> dict[str, Any]:
        import httpx

        retries = self.retry.retries()
        while True:
            try:
                r = self._http.request(method, path, json=body)
            except httpx.TransportError as e:
                wait = retries.next_wait()
                if wait is None:
                    raise ServiceError(f"{method} {path}: {type(e).__name__}: {e}") from None
                time.sleep(wait)
                continue
            if self.retry.retryable(r.status_code):
                wait = retries.next_wait(retry_after_s(r.headers.get("retry-after")))
                if wait is not None:
                    time.sleep(wait)
                    continue
            if r.status_code >= 400:
                try:
                    detail = r.json().get("detail")
                except ValueError:
                    detail = r.text[:500]
                raise ServiceError(f"{method} {path}: HTTP {r.status_code}: {detail}", r.status_code)
            result: dict[str, Any] = r.json()
            return result
