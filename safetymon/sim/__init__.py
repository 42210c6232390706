"""Simulated work cells: scripted people and robot motion with ground truth."""
