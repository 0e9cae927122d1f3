"""Privacy red team: how many records an adversary re-identifies under each hardening option,
one table per size (:mod:`evaluation._privacy_bench` adds linkage F1 and runs several sizes).

Two attacks, both on synthetic registrations (:func:`evaluation._synthetic.generate`):

* the **frequency attack** (:func:`frequency_attack`, pattern mining after Christen et al.)
  holds one agency's batch and public name lists with frequencies, and names the given and
  family name of every record; its baseline guesses the most frequent name for everyone;
* the **graph attack** (:func:`graph_attack`, after Vidanage et al.) holds the batch and a
  plaintext list of the same people, shuffled, and matches records across similarity graphs.
  The strongest case gives it the batch's own records; ``graph_people`` gives it the people's
  true details instead (as another register would hold them), so registration errors differ.

Neither attacker knows the agencies' secret; both know the schema (it travels with every
batch). The attacks live in ``_attack_names`` (public knowledge), ``_attack_freq`` (mining and
alignment), ``_attack_decode`` (decoding and re-learning) and ``_attack_graph``. Public API::

    table = privacy_table(n_people=5000, seed=0)   # one row per entry of HARDENING_SETTINGS
    table = privacy_table(8000, records=5000, settings={"v2": bloom.Schema.load("person")})
    table.attrs                                      # sizes, seed, upper bounds, random rates
"""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

import bloom
from bloom._tokens import parse_value
from evaluation._attack_attr import attribute_exposure, attribute_truth
from evaluation._attack_freq import FrequencyAttack, frequency_attack
from evaluation._attack_graph import GraphAttack, graph_attack
from evaluation._attack_graph_setting import OverlapSetting, overlap_rates, partial_overlap_setting
from evaluation._attack_names import PublicNames, public_names
from evaluation._synthetic import SyntheticData, generate

__all__ = [
    "FrequencyAttack",
    "GraphAttack",
    "HARDENING_SETTINGS",
    "PublicNames",
    "frequency_attack",
    "graph_attack",
    "most_frequent_names",
    "privacy_table",
    "public_names",
    "reidentification_rate",
]

logger = logging.getLogger(__name__)

_SALT = {"field": "birth_year", "part": "year"}
HARDENING_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "none": {},
        "balance": {"balance": True},
        # the person schema's 448/192/64-bit segments can only be folded once balanced
        "balance+xor_fold": {"balance": True, "xor_fold": True},
        "salt(birth year)": {"salt": _SALT},
        "diffusion(t=5)": {"diffusion": {"t": 5}},
        "blip(eps=4)": {"blip": {"epsilon": 4.0}},
        "blip(eps=2)": {"blip": {"epsilon": 2.0}},
        "salt(birth year)+diffusion(t=5)": {"salt": _SALT, "diffusion": {"t": 5}},
    }
)
_TARGET = "agency-a"  # the agency whose batch the adversary holds


_NAME_FIELDS = ("given_name", "family_name")


def normalised(values: Any, schema: bloom.Schema, field: str) -> np.ndarray:
    """Each value as the schema's field normalises it (``None`` where missing)."""
    f = schema.field(field)
    series = pd.Series(values, dtype=object)
    uniques = series.dropna().unique()
    table = {raw: parse_value(str(raw), f)[0] for raw in uniques}
    return series.map(table).to_numpy(dtype=object)


def scored_truth(register: pd.DataFrame, schema: bloom.Schema) -> dict[str, np.ndarray]:
    """The names an attack is scored against: each as ``schema`` normalises it before
    encoding. The attack recovers what the filters hold — under a folding schema
    (``normalise.fold``) a folded name, which names the person as well as the spelling
    written; scored against the unfolded spelling, a folding schema would look private
    when it is not (evaluation/hard_registers.md)."""
    return {c: normalised(register[c], schema, c) for c in _NAME_FIELDS}


def reidentification_rate(
    guesses: np.ndarray, values: Any, schema: bloom.Schema, field: str
) -> float:
    """Share of records whose guess equals the record's ``field`` value, both normalised."""
    truth = normalised(values, schema, field)
    guessed = normalised(guesses, schema, field)
    if guessed.shape != truth.shape:
        raise ValueError("guesses must hold one name per record of values")
    return _share_equal(guessed, truth)


def most_frequent_names(names: PublicNames) -> tuple[str, str]:
    """The baseline's guess for every record: the most frequent given and family name."""
    return (
        str(names.given.names[np.argmax(names.given.prior(names.mix))]),
        str(names.family.names[np.argmax(names.family.prior(names.mix))]),
    )


def _schema(hardening: Mapping[str, Any] | bloom.Schema, setting: str) -> bloom.Schema:
    if isinstance(hardening, bloom.Schema):
        return hardening
    doc = bloom.Schema.load("person-v1").document
    doc["hardening"] = dict(hardening)
    try:
        return bloom.Schema.from_dict(doc)
    except bloom.SchemaError as e:
        raise ValueError(f"settings['{setting}'] is not a valid hardening block: {e}") from e


@dataclass(frozen=True)
class _Setup:
    """What every row of the table shares: the data, the attacked register, the secrets."""

    data: SyntheticData
    register: pd.DataFrame  # the attacked agency's register
    plain: bloom.Schema  # person-v1: how names are normalised unless a row's schema folds them
    truth: dict[str, np.ndarray]  # its given and family names, normalised by ``plain``
    names: PublicNames
    secret: bloom.Secret
    attacker: bloom.Secret
    graph_records: int
    seed: int
    rounds: int
    overlap: OverlapSetting | None  # the partial-overlap graph attack's registers
    known: int  # people that attacker knows on both sides


def _share_equal(guesses: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([g is not None and g == t for g, t in zip(guesses, truth, strict=True)]))


def _frequency_rates(setup: _Setup, filters: np.ndarray, schema: bloom.Schema) -> dict:
    attack = frequency_attack(filters, schema, setup.names, rounds=setup.rounds)
    given, family = setup.truth["given_name"], setup.truth["family_name"]
    pair = ((attack.given == given) & (attack.family == family)) | (
        (attack.given == family) & (attack.family == given)
    )
    return {
        "freq_given": _share_equal(attack.given, given),
        "freq_family": _share_equal(attack.family, family),
        "freq_pair_any_order": float(np.mean(pair)),
    }


def _baseline_rates(setup: _Setup) -> dict[str, float]:
    given, family = most_frequent_names(setup.names)
    n = len(setup.register)
    return {
        "baseline_given": _share_equal(np.full(n, given), setup.truth["given_name"]),
        "baseline_family": _share_equal(np.full(n, family), setup.truth["family_name"]),
    }


def _graph_rates(setup: _Setup, filters: np.ndarray, schema: bloom.Schema) -> dict[str, float]:
    """Graph attack on the first records, against their own rows and their people's details."""
    small = setup.register.iloc[: setup.graph_records].reset_index(drop=True)
    order = np.random.default_rng([setup.seed, 3]).permutation(len(small))
    truth = np.argsort(order)  # encoded record i is plaintext row truth[i]
    data = setup.data
    entity = data.truth[data.truth["agency"] == _TARGET].set_index("record_ref")["entity_id"]
    people = data.people.set_index("entity_id").loc[small["record_ref"].map(entity)]
    out = {}
    for column, plain in (("graph_records", small), ("graph_people", people)):
        shuffled = plain.reset_index(drop=True).iloc[order].reset_index(drop=True)
        attack = graph_attack(filters[: len(small)], shuffled, schema, setup.attacker)
        out[column] = attack.rate(truth)
    return out


def _overlap_rates(setup: _Setup, schema: bloom.Schema) -> dict[str, float]:
    """The graph attack against another register covering about half the people, with its
    own errors (:mod:`evaluation._attack_graph_setting`): alone, and knowing some people."""
    assert setup.overlap is not None
    out = overlap_rates(setup.overlap, schema, setup.secret, setup.attacker)
    out.pop("graph_overlap_random_precision")  # the same for every row: in table.attrs
    if setup.known:
        known = overlap_rates(
            setup.overlap, schema, setup.secret, setup.attacker, known=setup.known
        )
        out["graph_known_precision"] = known["graph_overlap_precision"]
        out["graph_known_reidentified"] = known["graph_overlap_reidentified"]
    return out


def _scored_for(setup: _Setup, schema: bloom.Schema) -> _Setup:
    """``setup`` for attacking ``schema``: when it normalises the name fields otherwise than
    ``setup.plain`` (a ``fold``), the attacker tokenises its name lists with ``schema`` (it
    knows the schema) and is scored against the names as ``schema`` normalises them."""
    if all(schema.field(c).normalise == setup.plain.field(c).normalise for c in _NAME_FIELDS):
        return setup
    return replace(setup, truth=scored_truth(setup.register, schema), names=public_names(schema))


def _row(name: str, schema: bloom.Schema, setup: _Setup) -> dict[str, Any]:
    start = time.perf_counter()
    setup = _scored_for(setup, schema)
    filters = bloom.encode(setup.register, schema, setup.secret, agency=_TARGET).filters
    row: dict[str, Any] = {"setting": name}
    row |= _frequency_rates(setup, filters, schema)
    row |= _baseline_rates(setup)
    row |= _graph_rates(setup, filters, schema)
    row |= attribute_exposure(filters, schema, attribute_truth(setup.register)).columns("attr")
    if setup.overlap is not None:
        row |= _overlap_rates(setup, schema)
    row["seconds"] = round(time.perf_counter() - start, 1)
    logger.info("privacy table: %s done in %s s", name, row["seconds"])
    return row


def _check(
    n_people: object,
    seed: object,
    settings: object,
    graph_records: object,
    rounds: object,
    overlap_records: object = 0,
    known: object = 0,
    records: object = None,
) -> None:
    problems = []
    if records is not None and (
        not isinstance(records, numbers.Integral) or isinstance(records, bool) or records < 100
    ):
        problems.append("records must be None (the whole register) or an integer of 100 or more")
    for param, value, low in (
        ("n_people", n_people, 200),
        ("seed", seed, 0),
        ("graph_records", graph_records, 3),
        ("rounds", rounds, 0),
        ("overlap_records", overlap_records, 0),
        ("known", known, 0),
    ):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            problems.append(f"{param} must be an integer of {low} or more")
    if isinstance(overlap_records, numbers.Integral) and 0 < overlap_records < 10:
        problems.append("overlap_records must be 0 (no partial-overlap graph attack) or 10+")
    if not isinstance(settings, Mapping) or not settings:
        problems.append("settings must map setting names to hardening blocks")
    elif not all(isinstance(v, Mapping | bloom.Schema) for v in settings.values()):
        problems.append("settings must map each name to a hardening block or a schema")
    if problems:
        raise ValueError("bad parameters for privacy_table: " + "; ".join(problems))


def privacy_table(
    n_people: int = 5000,
    seed: int = 0,
    *,
    settings: Mapping[str, Mapping[str, Any] | bloom.Schema] | None = None,
    graph_records: int = 2000,
    rounds: int = 4,
    overlap_records: int = 5000,
    known: int = 250,
    records: int | None = None,
    on_row: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Re-identification rates under each hardening setting, one row each.

    Synthetic registrations of ``n_people`` people in three agencies (``seed``); the
    adversary holds the first agency's batch (about 0.64 * ``n_people`` records), cut to its
    first ``records`` records when given (more than the batch holds is an error). Columns:
    ``freq_given``/``freq_family`` -- share of records whose given/family name the frequency
    attack names right (top-1), ``freq_pair_any_order`` -- both names right in either order,
    ``baseline_given``/``baseline_family`` -- the most frequent name guessed for everyone,
    ``graph_records``/``graph_people`` -- share of the first ``graph_records`` records the
    graph attack matches to their plaintext (the records themselves / the people's true
    details), ``seconds``; ``attr_<field>`` -- attribute exposure of sex, birth year, day and month,
    place and father's name: the share of records in a group of >= 5 near-identical records
    (one segment, or the whole filter) where >= 90% share the value
    (:mod:`evaluation._attack_attr`); ``graph_overlap_*`` -- the graph attack against another
    register of ``overlap_records`` records covering about half the people with its own
    errors (precision of its claims, share re-identified, precision of its 10% surest
    claims, claims, share of records without a counterpart left unmatched), and
    ``graph_known_*`` the same attacker knowing ``known`` people on both sides
    (:mod:`evaluation._attack_graph_setting`). ``settings``: name -> the ``person`` schema's
    ``hardening`` block, or a whole schema (default :data:`HARDENING_SETTINGS`); ``rounds``:
    the frequency attack's re-learning rounds; ``on_row``: called with each row as it is
    done, and the table's attrs.
    Linkage F1 is not here: :func:`evaluation._privacy_bench.privacy_bench` adds it.
    ``table.attrs`` holds the sizes, the random-matching rate of the graph attack and the
    share of names in the public lists (the most the frequency attack can get right).
    """
    settings = HARDENING_SETTINGS if settings is None else settings
    _check(n_people, seed, settings, graph_records, rounds, overlap_records, known, records)
    overlap = (
        partial_overlap_setting(int(overlap_records), seed=int(seed)) if overlap_records else None
    )
    if overlap is not None:
        known = min(int(known), int((overlap.truth >= 0).sum()))
    schemas = {name: _schema(block, name) for name, block in settings.items()}
    data = generate(int(n_people), 3, seed=int(seed))
    register = data.agencies[_TARGET]
    if records is not None:
        if records > len(register):
            raise ValueError(
                f"records ({records}) is more than the {len(register)} records "
                f"that {n_people} people give the attacked agency; raise n_people"
            )
        register = register.iloc[: int(records)].reset_index(drop=True)
    plain = bloom.Schema.load("person-v1")
    setup = _Setup(
        data=data,
        register=register,
        plain=plain,
        truth=scored_truth(register, plain),
        names=public_names(plain),
        secret=bloom.Secret(np.random.default_rng([seed, 1]).bytes(32)),
        attacker=bloom.Secret(np.random.default_rng([seed, 2]).bytes(32)),
        graph_records=min(int(graph_records), len(register)),
        seed=int(seed),
        rounds=int(rounds),
        overlap=overlap,
        known=int(known),
    )
    attrs = {
        "n_people": int(n_people),
        "seed": int(seed),
        "records_attacked": len(register),
        "graph_records": setup.graph_records,
        "graph_random_rate": 1.0 / setup.graph_records,
        "overlap_records": len(overlap.register) if overlap is not None else 0,
        "overlap_known": setup.known,
        "given_in_public_list": _share_in(setup.truth["given_name"], setup.names.given.names),
        "family_in_public_list": _share_in(setup.truth["family_name"], setup.names.family.names),
    }
    rows = []
    for name, schema in schemas.items():
        rows.append(_row(name, schema, setup))
        if on_row is not None:
            on_row(rows[-1], attrs)
    table = pd.DataFrame(rows)
    table.attrs = attrs
    return table


def _share_in(values: np.ndarray, listed: np.ndarray) -> float:
    return float(np.isin(values.astype(str), listed.astype(str)).mean())
