"""Each package's public surface is exactly what its ``__all__`` promises."""

import importlib

import pytest

PACKAGES = ["bloom", "blocking", "evaluation", "linkage", "service"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_and_are_sorted(name):
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"
