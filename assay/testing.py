"""`OpenAIStub`: a tiny OpenAI-compatible HTTP server on loopback, serving scripted replies.

For tests of anything that talks to ``/v1/completions`` or ``/v1/chat/completions`` (the
`OpenAISampler`, LLM judges, rollouts): real HTTP over a real socket, no model. Standard library
only (``http.server`` in a background thread). It listens on ``127.0.0.1`` and a free port::

    with OpenAIStub(lambda req: "Score: 7") as stub:
        sampler = OpenAISampler(stub.url, model="stub")
        ...
        assert stub.request_count == 1

The reply function gets a `StubRequest` (the path, the parsed body, the prompt text and the
choice index) and returns the text, or a `StubReply` to set the HTTP status, a delay (a stall)
or the finish reason. Token ids are the UTF-8 bytes of the text and each log-prob is -0.5,
reported when the request asks for log-probs; vLLM's ``return_tokens_as_token_ids`` spelling
(``"token_id:N"``) is honoured.

Chat replies may carry native tool calls (``StubReply(tool_calls=[("search", {"query": "x"})])``):
the assistant message then has OpenAI's typed ``tool_calls`` (ids ``call_<k>``, arguments as a
JSON string) and ``finish_reason`` ``"tool_calls"``. Every response reports ``usage`` (prompt
tokens: the UTF-8 bytes of the prompt text; completion tokens: those of the reply and its calls).

`GoldAgent` is a reply function that plays an env's gold episodes through the stub (tool calls
turn by turn, then the gold answer), optionally answering some tasks wrongly: a scripted policy
with a known score, for end-to-end tests of agentic evaluation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["GoldAgent", "OpenAIStub", "StubReply", "StubRequest", "route"]


@dataclass(frozen=True, slots=True)
class StubRequest:
    """One request as the reply function sees it."""

    path: str
    body: dict[str, Any]
    prompt: str
    """The completion prompt, or the chat messages' contents joined by newlines."""
    index: int
    """Which of the ``n`` choices is being produced."""


@dataclass(frozen=True, slots=True)
class StubReply:
    """A scripted reply with control over the transport."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    """Sleep this long before answering (a stall when longer than the client's timeout)."""
    finish_reason: str = "stop"
    body: str | None = None
    """Send this raw body instead of a well-formed response (for malformed-JSON tests)."""
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    """Chat only: native tool calls ``(name, arguments)`` in the assistant message."""


ReplyFn = Callable[[StubRequest], "str | StubReply"]


@dataclass
class _State:
    reply: ReplyFn
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    max_in_flight: int = 0


class OpenAIStub:
    """A scripted OpenAI-compatible server on ``127.0.0.1`` (use as a context manager).

    Attributes:
        url: ``http://127.0.0.1:PORT`` once started.
        requests: The JSON bodies received, in arrival order.
        max_in_flight: The most requests handled at the same moment (to check concurrency limits).
    """

    def __init__(self, reply: ReplyFn | str) -> None:
        fn: ReplyFn = (lambda _req: reply) if isinstance(reply, str) else reply
        self._state = _State(fn)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def request_count(self) -> int:
        with self._state.lock:
            return len(self._state.requests)

    @property
    def max_in_flight(self) -> int:
        return self._state.max_in_flight

    def start(self) -> OpenAIStub:
        state = self._state

        class Handler(_Handler):
            pass

        Handler.state = state
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._state.closing.set()  # stalled handlers wake up and return
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, payload: str) -> None:
        data = payload.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timed out) first
            pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}))
        else:
            self._send(404, json.dumps({"error": "not found"}))

    def do_POST(self) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, json.dumps({"error": "body is not JSON"}))
            return
        chat = self.path.rstrip("/") == "/v1/chat/completions"
        if not chat and self.path.rstrip("/") != "/v1/completions":
            self._send(404, json.dumps({"error": f"no route {self.path}"}))
            return
        with state.lock:
            state.requests.append(body)
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self._answer(body, chat)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer(self, body: dict[str, Any], chat: bool) -> None:
        state = self.state
        if chat:
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        else:
            prompt = str(body.get("prompt", ""))
        choices = []
        for i in range(int(body.get("n", 1))):
            out = state.reply(StubRequest(self.path, body, prompt, i))
            reply = StubReply(out) if isinstance(out, str) else out
            if reply.delay_s > 0:
                deadline = time.monotonic() + reply.delay_s
                while time.monotonic() < deadline and not state.closing.is_set():
                    time.sleep(0.02)
            if reply.body is not None or reply.status != 200:
                self._send(
                    reply.status, reply.body if reply.body is not None else json.dumps({"error": "scripted"})
                )
                return
            choices.append(_choice(i, reply, body, chat))
        completion_tokens = sum(int(c.pop("_tokens")) for c in choices)
        prompt_tokens = len(prompt.encode())
        payload = {
            "id": "stub",
            "object": "chat.completion" if chat else "text_completion",
            "created": 0,
            "model": body.get("model", "stub"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._send(200, json.dumps(payload))


def _choice(index: int, reply: StubReply, body: dict[str, Any], chat: bool) -> dict[str, Any]:
    ids = list(reply.text.encode())
    as_ids = bool(body.get("return_tokens_as_token_ids"))
    tokens = [f"token_id:{t}" if as_ids else chr(t) for t in ids]
    choice: dict[str, Any] = {"index": index, "finish_reason": reply.finish_reason}
    want = body.get("logprobs")
    calls = [
        {
            "id": f"call_{k}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for k, (name, arguments) in enumerate(reply.tool_calls)
    ]
    choice["_tokens"] = len(ids) + sum(len(json.dumps(c["function"]).encode()) for c in calls)
    if chat:
        choice["message"] = {"role": "assistant", "content": reply.text or (None if calls else "")}
        if calls:
            choice["message"]["tool_calls"] = calls
            if reply.finish_reason == "stop":
                choice["finish_reason"] = "tool_calls"
        choice["logprobs"] = {"content": [{"token": t, "logprob": -0.5} for t in tokens]} if want else None
    else:
        choice["text"] = reply.text
        choice["logprobs"] = {"tokens": tokens, "token_logprobs": [-0.5] * len(tokens)} if want else None
    return choice


class GoldAgent:
    """A stub reply function that plays the gold episodes of an env's first tasks.

    ``GoldAgent(env, tasks=range(20), wrong={3, 7})`` knows tasks 0..19 by their prompts. For a
    chat request, it finds the task from the first user message, counts the assistant turns so
    far, and replies with the next turn of `ToolEnv.gold_plan` as native tool calls (``json``
    call format), or with the gold answer once the plan is done. The final answer is
    ``<answer>wrong</answer>`` for a task in ``wrong``, and when ``wrong_seed`` is given and
    the request's ``seed`` satisfies it (so a rerun that sends other seeds scores differently).
    Envs whose prompts do not identify the task (GuessNumber) are played by ``play(messages)``,
    which returns the next reply text.

    Not a policy for anything but tests and benchmarks: it reads the reference answers.
    """

    def __init__(
        self,
        env: Any,
        tasks: Sequence[int] = (),
        *,
        wrong: Sequence[int] = (),
        wrong_seed: Callable[[int], bool] | None = None,
        play: Callable[[list[dict[str, Any]]], str] | None = None,
    ) -> None:
        base = env.unwrapped
        self.env = base
        self.by_prompt: dict[str, tuple[int, Any]] = {}
        for t in tasks:
            task = base.task_at(int(t))
            self.by_prompt[task.prompt] = (int(t), task)
        self.wrong = frozenset(int(t) for t in wrong)
        self.wrong_seed = wrong_seed
        self.play = play
        self._lock = threading.Lock()
        self.calls = 0

    def knows(self, request: StubRequest) -> bool:
        """Whether this agent plays ``request``'s episode (by its first user message)."""
        if self.play is not None:
            return True
        return self._task(request) is not None

    def _task(self, request: StubRequest) -> tuple[int, Any] | None:
        messages = list(request.body.get("messages") or [])
        user = next((m for m in messages if m.get("role") == "user"), None)
        return None if user is None else self.by_prompt.get(str(user.get("content", "")))

    def __call__(self, request: StubRequest) -> str | StubReply:
        with self._lock:
            self.calls += 1
        messages = list(request.body.get("messages") or [])
        if self.play is not None:
            return self.play(messages)
        found = self._task(request)
        if found is None:
            return StubReply(status=400, body=json.dumps({"error": "GoldAgent: unknown task"}))
        t, task = found
        turn = sum(m.get("role") == "assistant" for m in messages)
        plan = self.env.gold_plan(task) if hasattr(self.env, "gold_plan") else []
        if turn < len(plan):
            return StubReply("", tool_calls=[(str(name), dict(args)) for name, args in plan[turn]])
        seed = request.body.get("seed")
        unlucky = self.wrong_seed is not None and isinstance(seed, int) and self.wrong_seed(seed)
        if t in self.wrong or unlucky:
            return "<answer>wrong</answer>"
        return str(self.env.gold(task))


def route(*agents: GoldAgent) -> ReplyFn:
    """One reply function for several envs' agents: the first that `GoldAgent.knows` the
    request answers it (put agents with ``play`` last)."""

    def reply(request: StubRequest) -> str | StubReply:
        for agent in agents:
            if agent.knows(request):
                return agent(request)
        return StubReply(status=400, body=json.dumps({"error": "no agent knows this task"}))

    return reply
