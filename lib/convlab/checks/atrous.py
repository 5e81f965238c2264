"""Visible checks of 03_atrous (filled in by the notebook 03_atrous)."""
