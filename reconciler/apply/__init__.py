"""Carrying a plan out through the ports: the executor, the review wait and the apply report."""
