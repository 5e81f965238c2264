"""Hidden cases of 04_gridding."""
from __future__ import annotations
