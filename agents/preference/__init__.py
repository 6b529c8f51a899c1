"""Preference learning and the post-training recipe around it.

- `data`: preference data from environments (sample N per prompt, score with the env's verifier
  and rubric, a reward function, a judge or a pairwise judge; pairs, KTO records, rejection
  sampling), saved as JSONL that ``datasets`` loads.
- `losses`: DPO, IPO, SimPO, KTO, ORPO and the Bradley-Terry loss as pure functions.
- `sft`: supervised fine-tuning with a completion-only loss (the cold start).
- `dpo`: offline DPO-family training on a preference file, and online iterative DPO on an env.
- `rm`: Bradley-Terry reward models (a scalar head on a causal LM), usable as a reward function.
- `constitution`: critique and revision under principles; the critic's pairwise choices.

Like the rest of `assay.agents`, importing it imports torch (the ``train`` extra).
"""
