"""Agents: samplers, rollouts and trainers that consume assay environments."""
