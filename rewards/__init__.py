"""Rewards: named, weighted reward terms composed into a `Rubric`."""

from assay.rewards.base import CORRECTNESS, Reward, RewardFn, Rubric, Term, correct

__all__ = ["CORRECTNESS", "Reward", "RewardFn", "Rubric", "Term", "correct"]
