"""The settings of the privacy table: each a name and a pair of schemas (``person``, ``febrl``).

The ``person`` variant encodes the synthetic registers (the attacks, and the synthetic F1); the
``febrl`` variant encodes FEBRL4 and FEBRL3 (their F1). Rows come from two places:

* every hardening block of :data:`evaluation._attack.HARDENING_SETTINGS`, applied to the first
  revisions of the shipped schemas, ``person-v1`` and ``febrl-v1`` (the defaults until 2026-12,
  no hardening; a salt by birth year names each schema's own date field);
* v2 (``bloom/schemas/person-v2.json`` with the shipped ``febrl``, revision 2) and the combinations
  built on it that :mod:`evaluation._frontier` explores;
* the shipped defaults since 2026-12, ``person`` (v2 with the recall options of
  ``person-recall`` -- folded names, the father's name in the name segment, month-year dates
  -- and the place of birth hashed into ``name_year``; scored in its folded space) and
  ``febrl`` (v2);
* the v3 proposals (every name hashed keyed by the year windows, name segments re-keyed record
  by record: ``bloom/schemas/person-v3.json``, ``bloom/schemas/febrl-v3.json``);
* ``person-recall`` (names folded to one spelling per sound, the father's name in the name
  segment; ``evaluation/hard_registers.md``): its attacks are scored in its own folded space
  (:func:`evaluation._attack.privacy_table` tokenises the attacker's lists with it). It has no
  FEBRL variant: the ``febrl`` column is ``febrl-v1``, as person-recall builds on ``person-v1``.

To add a row, add an entry to :func:`privacy_settings` (or pass your own mapping of name ->
``(person, febrl)`` to the bench: schemas, schema documents, or shipped schema names).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bloom
from evaluation._attack import HARDENING_SETTINGS

__all__ = [
    "DEFAULT",
    "MAIN_SETTINGS",
    "SchemaLike",
    "privacy_settings",
    "setting_schemas",
]

SchemaLike = bloom.Schema | Mapping[str, Any] | str
_SCHEMAS = Path(bloom.__file__).resolve().parent / "schemas"
# the date field each schema's "salt by birth year" takes its year from
_YEAR_FIELD = {"person": "birth_year", "febrl": "date_of_birth"}

V2 = "v2 (person-v2, febrl)"
DEFAULT = "revision 2 (person, febrl: the default since 2026-12)"
V2_NAMES_SALTED = "v2 + names salted by year windows"
V2_DIFFUSION = "v2 + diffusion t=3"
V3 = "v3 (person-v3, febrl-v3)"
RECALL = "person-recall (folded names; febrl-v1)"
# the rows worth measuring at every size: today's default and the proposals for the next one
MAIN_SETTINGS: tuple[str, ...] = ("none", V2, V2_NAMES_SALTED, V2_DIFFUSION, DEFAULT)


def _doc(name: str) -> dict[str, Any]:
    return bloom.Schema.load(_SCHEMAS / f"{name}.json").document


def _hardened(doc: Mapping[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(dict(doc)), "hardening": copy.deepcopy(dict(block))}


def _for_schema(block: Mapping[str, Any], schema: str) -> dict[str, Any]:
    """A person hardening block with its salt field renamed to ``schema``'s date field."""
    out = copy.deepcopy(dict(block))
    if "salt" in out and out["salt"].get("field") == _YEAR_FIELD["person"]:
        out["salt"] = {**out["salt"], "field": _YEAR_FIELD[schema]}
    return out


def _names_salted(doc: dict[str, Any], names: tuple[str, str]) -> dict[str, Any]:
    """The name fields themselves salted by the year windows (a missing year: empty salts)."""
    out = copy.deepcopy(doc)
    year = next(f["salt"]["field"] for f in out["fields"] if f.get("salt"))
    for f in out["fields"]:
        if f["name"] in names:
            f["salt"] = {"field": year, "part": "year_window", "missing": "salt"}
    return out


def privacy_settings() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every row of the privacy table: name -> (person document, febrl document)."""
    person, febrl = _doc("person-v1"), _doc("febrl-v1")
    out = {
        name: (_hardened(person, block), _hardened(febrl, _for_schema(block, "febrl")))
        for name, block in HARDENING_SETTINGS.items()
    }
    p2, f2 = _doc("person-v2"), _doc("febrl")
    out[V2] = (p2, f2)
    out[V2_NAMES_SALTED] = (
        _names_salted(p2, ("given_name", "family_name")),
        _names_salted(f2, ("given_name", "surname")),
    )
    out[V2_DIFFUSION] = (
        _hardened(p2, {"diffusion": {"t": 3}}),
        _hardened(f2, {"diffusion": {"t": 3}}),
    )
    out[DEFAULT] = (_doc("person"), f2)
    out[V3] = (_doc("person-v3"), _doc("febrl-v3"))
    out[RECALL] = (_doc("person-recall"), febrl)
    return out


def _schema(value: object, setting: str, which: str) -> bloom.Schema:
    try:
        if isinstance(value, bloom.Schema):
            return value
        if isinstance(value, str):
            return bloom.Schema.load(value)
        if isinstance(value, Mapping):
            return bloom.Schema.from_dict(copy.deepcopy(dict(value)))
    except (bloom.SchemaError, OSError) as e:
        raise ValueError(f"settings['{setting}']: the {which} schema is not valid: {e}") from e
    raise ValueError(
        f"settings['{setting}']: the {which} schema must be a Schema, a document or a name"
    )


def setting_schemas(
    settings: Mapping[str, tuple[SchemaLike, SchemaLike]] | None = None,
) -> dict[str, tuple[bloom.Schema, bloom.Schema]]:
    """Each setting's (person, febrl) schemas, checked (default: :func:`privacy_settings`)."""
    settings = privacy_settings() if settings is None else settings
    if not isinstance(settings, Mapping) or not settings:
        raise ValueError("settings must map setting names to (person, febrl) schema pairs")
    out = {}
    for name, pair in settings.items():
        if not isinstance(name, str) or not name:
            raise ValueError("settings must be named by non-empty strings")
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"settings['{name}'] must be a (person, febrl) pair of schemas")
        out[name] = (_schema(pair[0], name, "person"), _schema(pair[1], name, "febrl"))
    return out
