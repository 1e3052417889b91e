"""Batched numpy gridworlds (Cleanup, Gathering)."""
