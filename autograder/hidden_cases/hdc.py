"""Hidden cases of 05_hdc."""
from __future__ import annotations
