"""Sandboxes: run untrusted programs under isolation and resource limits."""
