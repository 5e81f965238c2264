"""Figures: transposed (to be written)."""
__all__: list[str] = []
