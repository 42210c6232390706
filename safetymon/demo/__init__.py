"""`safetymon demo`: the real monitor on a simulated cell (no camera or robot needed)."""
