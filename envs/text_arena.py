"""TextArena interop: a TextArena game as an assay env, scored by the game's own rewards.

``assay.envs.from_textarena("GuessTheNumber-v0")`` builds a `TextArenaEnv` (a `PeerEpisodeEnv`):
``reset(seed=s)`` makes the game's episode with TextArena's ``reset(num_players, seed)``, the
prompt is player 0's first observation, each action is player 0's move, and each observation is
the text TextArena added since the last one. Two-player games need ``opponent``: a function from
the opponent's observation to its move (a scripted player), called whenever it is the opponent's
turn. When the game ends, player 0's reward from TextArena's ``close()`` (-1 loss, 0 draw, 1 win
in its games) is the verdict (`PeerOutcome`, ``reward_range=(-1, 1)``).

Needs the optional extra: ``pip install "assay[textarena]"``; imported when the env is built,
never by ``import assay``. TextArena reseeds Python's global ``random`` on every reset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assay.envs.peer_episode import PeerEpisodeEnv, PeerStep

__all__ = ["TextArenaEnv", "from_textarena"]


def _import() -> Any:
    try:
        import textarena
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('textarena is not installed: pip install "assay[textarena]"') from e
    return textarena


class TextArenaEnv(PeerEpisodeEnv):
    """A TextArena game, assay's policy as player 0 (module docstring).

    Args:
        game: A TextArena env id (``textarena.envs.registration.ENV_REGISTRY``).
        num_players: Players in the game (1 for single-player games).
        opponent: For two-player games, the scripted player 1: ``opponent(observation) -> move``.
        kwargs: `PeerEpisodeEnv`'s (``partial_credit``, ``max_turns``, ``max_chars``...).
    """

    def __init__(
        self,
        game: str,
        *,
        num_players: int = 1,
        opponent: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        if num_players > 1 and opponent is None:
            raise ValueError(f"{game} with {num_players} players needs an opponent")
        kwargs.setdefault("reward_range", (-1.0, 1.0))
        super().__init__(**kwargs)
        self.game_id, self.num_players, self.opponent = game, num_players, opponent
        self._ta = _import()
        self.game = self._ta.make(env_id=game)
        self.prefix = f"textarena/{game}"
        self._seen = ""

    def _observe(self) -> str:
        """Player 0's new text, after any opponent turns (the opponent moves in between)."""
        while True:
            player, observation = self.game.get_observation()
            if player == 0 or self.opponent is None:
                break
            done, _ = self.game.step(action=self.opponent(str(observation)))
            if done:
                return ""
        text = str(observation)
        new = text[len(self._seen) :] if text.startswith(self._seen) else text
        self._seen = text
        return new.strip("\n")

    def start(self, seed: int) -> str:
        """A fresh episode of the game with TextArena's ``seed``.

        A new TextArena env per episode: its observation wrappers keep their history across
        ``reset`` (the second prompt would hold the first episode's text).
        """
        self._seen = ""
        self.game = self._ta.make(env_id=self.game_id)
        self.game.reset(num_players=self.num_players, seed=seed)
        return self._observe()

    def advance(self, action: str) -> PeerStep:
        """Player 0 moves; the game's reply, or its end with player 0's reward."""
        done, _ = self.game.step(action=action)
        observation = "" if done else self._observe()
        if not done and observation == "":  # the opponent's move ended it
            done = True
        if not done:
            return PeerStep(observation, False)
        rewards, _ = self.game.close()
        reward = (rewards or {}).get(0)
        return PeerStep("", True, None if reward is None else float(reward))


def from_textarena(game: str, **kwargs: Any) -> TextArenaEnv:
    """A TextArena game as an assay env; ``kwargs`` are `TextArenaEnv`'s."""
    return TextArenaEnv(game, **kwargs)
