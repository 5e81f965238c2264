"""Visible checks of 05_hdc (filled in by the notebook 05_hdc)."""
