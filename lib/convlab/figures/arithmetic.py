"""Figures: arithmetic (to be written)."""
__all__: list[str] = []
