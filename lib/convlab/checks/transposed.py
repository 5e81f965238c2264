"""Checks for assignment 02 (transposed convolution)."""
