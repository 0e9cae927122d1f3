"""Each package's public surface is exactly what its ``__all__`` promises."""

import importlib

import pytest

PACKAGES = ["bloom", "blocking", "caselink_errors", "evaluation", "linkage", "service"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_and_are_sorted(name):
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"
    assert len(module.__all__) == len(set(module.__all__))


def _ours(value: object) -> bool:
    """Defined by this project (a class, function or object of its packages), or a constant."""
    if isinstance(value, int | float | str | tuple | frozenset | dict):
        return True
    home = getattr(value, "__module__", None) or ""
    return home.split(".")[0] in PACKAGES


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_of_a_package_is_in_its_all(name):
    """What a package offers of the project's own without an underscore is promised in
    ``__all__`` (submodules and what it imports from other libraries for itself aside)."""
    import types

    module = importlib.import_module(name)
    offered = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType) and _ours(value)
    }
    assert offered - set(module.__all__) == set()


def test_every_error_of_the_tree_has_a_status_and_a_code_and_is_exported_where_raised():
    import caselink_errors as errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.CaselinkError) for c in classes)
    for c in classes:
        if c.__name__ not in ("ServiceError", "BatchRefusedError", "ClientError"):
            assert 400 <= c.http_status < 600 and c.code, c.__name__
        assert c.__name__ in errors.__doc__, f"{c.__name__} is missing from the documented tree"
    # input errors are ValueErrors and 422; none of the others is a 422
    for c in classes:
        assert issubclass(c, errors.InputError) == (
            c.http_status == 422 and issubclass(c, ValueError)
        ), c
    for package, names in {
        "bloom": ("BatchError", "EncodingError", "ExposureError", "SchemaError", "SecretError"),
        "blocking": ("BlockingError",),
        "linkage": (
            "CaseIdError",
            "DataKeyError",
            "LinkageError",
            "RegistryError",
            "RunMemoryError",
            "SealedValueError",
        ),
    }.items():
        module = importlib.import_module(package)
        for name in names:
            assert getattr(module, name) is getattr(errors, name), f"{package}.{name}"


def _private_imports(package: str, path) -> list[str]:
    """``module: name`` for each import in ``path`` of a private module or name of
    ``package`` (``package._x``, or ``from package import _x``)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names = [a.name for a in node.names]
            if parts[0] == package and (
                any(p.startswith("_") for p in parts[1:])
                or (len(parts) == 1 and any(n.startswith("_") for n in names))
            ):
                found.append(f"{path}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and any(p.startswith("_") for p in parts[1:]):
                    found.append(f"{path}: import {alias.name}")
    return found


def test_no_module_outside_linkage_imports_a_private_name_of_linkage():
    """The service, the evaluation, the CLI and the lower packages use ``linkage``'s public
    API (its ``__all__`` and the public module ``linkage.sealing``) only; the tests of
    ``linkage`` itself may reach inside it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "caselink_cli.py", root / "caselink_errors.py"]
    for package in ("bloom", "blocking", "evaluation", "service"):
        files += sorted((root / package).rglob("*.py"))
    found = [hit for path in files for hit in _private_imports("linkage", path)]
    assert found == []
