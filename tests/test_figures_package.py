"""The figures package: each module's ``__all__`` lists exactly its public functions, and
the package exports every one of them (the notebooks import from ``convlab.figures``)."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

from convlab import figures

MODULES = sorted(m.name for m in pkgutil.iter_modules(figures.__path__))


def test_every_figure_module_is_checked():
    assert {"arithmetic", "atrous", "convolution", "gridding", "hdc", "transposed"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_functions_and_the_package_exports_them(name):
    module = importlib.import_module(f"{figures.__name__}.{name}")
    public = {n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
              and getattr(v, "__module__", "") == module.__name__}
    assert set(module.__all__) == public
    assert all(getattr(figures, n) is getattr(module, n) for n in module.__all__)
