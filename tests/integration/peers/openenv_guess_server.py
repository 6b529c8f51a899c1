"""An OpenEnv server built with openenv-core's own classes (run in its venv): guess a number.

``python openenv_guess_server.py PORT`` serves it on 127.0.0.1. ``reset(seed)`` draws the secret
in 1..20 from the seed; each step's ``message`` is a guess; the reply says higher or lower. The
reward comes from an openenv-core `Rubric` (1.0 for the secret, else 0.0) once the episode ends
(the secret guessed, or 6 guesses used).
"""

from __future__ import annotations

import random
import sys
import uuid

import uvicorn
from openenv.core.env_server import Environment, create_fastapi_app
from openenv.core.env_server.types import Action, Observation, State
from openenv.core.rubrics.base import Rubric

GUESSES = 6


class GuessAction(Action):
    message: str


class GuessObservation(Observation):
    message: str = ""


class HitTheSecret(Rubric):
    def forward(self, action, observation) -> float:
        return 1.0 if observation.metadata.get("hit") else 0.0


class GuessEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__(rubric=HitTheSecret())
        self._state = State(episode_id=None, step_count=0)
        self._secret = 0

    def reset(self, seed=None, episode_id=None, **kwargs) -> GuessObservation:
        self._secret = random.Random(seed).randint(1, 20)
        self._state = State(episode_id=episode_id or uuid.uuid4().hex, step_count=0)
        return GuessObservation(message=f"Guess my number between 1 and 20 in {GUESSES} tries.")

    def step(self, action: GuessAction, timeout_s=None, **kwargs) -> GuessObservation:
        self._state.step_count += 1
        text = action.message.strip()
        guess = int(text) if text.isdigit() else None
        hit = guess == self._secret
        done = hit or self._state.step_count >= GUESSES
        hint = (
            "correct"
            if hit
            else ("not a number" if guess is None else ("higher" if guess < self._secret else "lower"))
        )
        obs = GuessObservation(message=hint, done=done, metadata={"hit": hit})
        obs.reward = self._apply_rubric(action, obs) if done else None
        return obs

    @property
    def state(self) -> State:
        return self._state


app = create_fastapi_app(GuessEnvironment, GuessAction, GuessObservation, max_concurrent_envs=8)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
