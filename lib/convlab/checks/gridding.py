"""Visible checks of 04_gridding (filled in by the notebook 04_gridding)."""
