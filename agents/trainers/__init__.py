"""Trainers: credit assignment and policy-gradient updates for LLM and small-net agents."""
