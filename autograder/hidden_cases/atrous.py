"""Hidden cases of 03_atrous."""
from __future__ import annotations
