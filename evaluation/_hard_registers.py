"""Hard registers: a displaced population registered by several agencies, with the truth.

Built for the cases where record linkage is weakest (issue 12): a few hundred shared names
(thousands of namesakes), families whose children share a family name and a father's name,
twins (same family, same date of birth), every name romanised by one of four rule-based
transliteration schemes (:mod:`evaluation._hard_registers_names`), given and family names
exchanged, a family name replaced by the father's name, dates of birth estimated and written
as 1 January, as a bare year or with the day left out. Its error model is its own -- it shares
no list, table or rule with the synthetic generator (:mod:`evaluation._synthetic`) -- so a
change tuned to one cannot look good on the other by construction.

:data:`PRESETS` holds two parameterisations (rates, sizes and seeds differ); figures should
be reported on both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from evaluation._datasets import MultiAgencyData
from evaluation._hard_registers_names import INVENTORIES, SCHEMES, Scheme, romanise

__all__ = ["PRESETS", "HardParams", "HardRegisters", "generate_hard"]

COLUMNS = ("given_name", "family_name", "father_name", "sex", "date_of_birth", "place_of_birth")
_TRADITIONS = ("arabic", "somali_pashto", "cyrillic")
_TYPO_LETTERS = "abdeghiklmnorstuy"


@dataclass(frozen=True)
class HardParams:
    """Sizes and per-registration rates of one hard register set."""

    families: int = 1200
    agencies: int = 3
    coverage: float = 0.7  # chance that an agency holds a given person
    tradition_mix: tuple[float, float, float] = (0.45, 0.35, 0.2)  # arabic, somali_pashto, cyrillic
    children_mean: float = 1.6  # children per family (Poisson), parents are people too
    twins: float = 0.06  # chance that a family with children has a pair of twins
    second_given: float = 0.15  # people with a second given name, placed per registration
    loyalty: float = 0.75  # an agency's clerks use its own scheme, else any other
    swap: float = 0.15  # given and family name exchanged
    family_is_father: float = 0.05  # the father's name written as the family name
    father_missing: float = 0.25
    undocumented: float = 0.3  # people with no documented date of birth (estimates)
    estimate_off: float = 0.2  # an estimated year off by one (either way) ...
    estimate_off_two: float = 0.03  # ... or by two
    default_date: float = 0.08  # a documented date written as 1 January all the same
    day_missing: float = 0.05  # a documented date written without its day
    place_missing: float = 0.3
    sex_missing: float = 0.02
    typo: float = 0.02  # one letter replaced, per name
    seed: int = 0

    def __post_init__(self) -> None:
        rates = {k: v for k, v in vars(self).items() if isinstance(v, float)}
        bad = [k for k, v in rates.items() if k != "children_mean" and not 0 <= v <= 1]
        if bad or self.families < 1 or self.agencies < 2 or self.children_mean < 0:
            raise ValueError(f"invalid hard-register parameters: {bad or 'sizes'}")


PRESETS: MappingProxyType[str, HardParams] = MappingProxyType(
    {
        "moderate": HardParams(seed=11),
        "heavy": HardParams(
            families=1500,
            agencies=4,
            coverage=0.6,
            tradition_mix=(0.4, 0.4, 0.2),
            twins=0.1,
            second_given=0.25,
            loyalty=0.5,
            swap=0.3,
            family_is_father=0.1,
            father_missing=0.4,
            undocumented=0.45,
            estimate_off=0.3,
            estimate_off_two=0.08,
            default_date=0.12,
            day_missing=0.1,
            place_missing=0.4,
            typo=0.04,
            seed=23,
        ),
    }
)


@dataclass(frozen=True)
class HardRegisters(MultiAgencyData):
    """The agencies' registers, the truth, the people, and what happened to each record."""

    people: pd.DataFrame  # entity_id, tradition, canonical names, sex, dob, documented, family
    facts: pd.DataFrame  # agency, record_ref, scheme, swapped, family_is_father, date_kind


def _pick(table: tuple[tuple[str, float], ...], rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.array([w for _, w in table])
    idx = rng.choice(len(table), size=n, p=weights / weights.sum())
    return np.array([table[i][0] for i in idx], dtype=object)


def _people(p: HardParams, rng: np.random.Generator) -> pd.DataFrame:
    """Families of two parents and their children; twins share a date of birth."""
    rows = []
    for fam in range(p.families):
        trad = _TRADITIONS[rng.choice(3, p=np.array(p.tradition_mix) / sum(p.tradition_mix))]
        inv = INVENTORIES[trad]
        family, grandfather = _pick(inv["family"], rng, 1)[0], _pick(inv["male"], rng, 1)[0]
        father = _pick(inv["male"], rng, 1)[0]
        mother_family = _pick(inv["family"], rng, 1)[0]
        y_father = int(rng.integers(1950, 1990))
        base = {"family_id": fam, "tradition": trad, "twin_of_previous": False}
        rows.append(
            base
            | {
                "given": father,
                "family": family,
                "father": grandfather,
                "sex": "M",
                "year": y_father,
            }
        )
        rows.append(
            base
            | {
                "given": _pick(inv["female"], rng, 1)[0],
                "family": mother_family,
                "father": _pick(inv["male"], rng, 1)[0],
                "sex": "F",
                "year": y_father + int(rng.integers(-2, 9)),
            }
        )
        n_children = int(rng.poisson(p.children_mean))
        twin_at = int(rng.integers(n_children)) if n_children and rng.random() < p.twins else -1
        year = y_father + int(rng.integers(20, 30))
        for c in range(n_children + (twin_at >= 0)):
            sex = "M" if rng.random() < 0.5 else "F"
            twin = twin_at >= 0 and c == twin_at + 1
            year = year if twin else year + int(rng.integers(1, 4))
            rows.append(
                base
                | {
                    "given": _pick(inv["male" if sex == "M" else "female"], rng, 1)[0],
                    "family": family,
                    "father": father,
                    "sex": sex,
                    "year": min(year, 2024),
                    "twin_of_previous": twin,
                }
            )
    people = pd.DataFrame(rows)
    n = len(people)
    month, day = rng.integers(1, 13, n), rng.integers(1, 29, n)
    twin = people["twin_of_previous"].to_numpy()
    for i in np.flatnonzero(twin):  # twins: one date of birth
        month[i], day[i] = month[i - 1], day[i - 1]
    second = np.where(rng.random(n) < p.second_given, _second_names(people, rng), None)
    return people.assign(
        entity_id=[f"h{p.seed}-{i}" for i in range(n)],
        month=month,
        day=day,
        documented=rng.random(n) >= p.undocumented,
        second_given=second,
        place=_pick(INVENTORIES["places"]["place"], rng, n),
    )


def _second_names(people: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    return np.array(
        [_pick(INVENTORIES[t]["male"], rng, 1)[0] for t in people["tradition"]], dtype=object
    )


@dataclass(frozen=True)
class _Clerk:
    scheme: Scheme
    date_style: str  # iso, dmy or mixed
    upper: bool


def _clerks(p: HardParams) -> list[_Clerk]:
    styles = ("iso", "dmy", "mixed")
    return [
        _Clerk(SCHEMES[a % len(SCHEMES)], styles[a % len(styles)], upper=a % 2 == 1)
        for a in range(p.agencies)
    ]


def _spell(canonical: str | None, scheme: Scheme, p: HardParams, rng) -> str:
    if canonical is None:
        return ""
    text = romanise(canonical, scheme, rng)
    if text and rng.random() < p.typo:
        k = int(rng.integers(len(text)))
        if text[k].isalpha():
            text = text[:k] + _TYPO_LETTERS[int(rng.integers(len(_TYPO_LETTERS)))] + text[k + 1 :]
    return text


def _date(person: dict, clerk: _Clerk, p: HardParams, rng) -> tuple[str, str]:
    """(written date of birth, kind): full, default (1 January), bare_year, no_day, missing."""
    style = clerk.date_style if clerk.date_style != "mixed" else ("iso", "dmy")[rng.integers(2)]
    y, m, d = int(person["year"]), int(person["month"]), int(person["day"])
    kind = "full"
    if not person["documented"]:
        r = rng.random()
        off = 1 if r < p.estimate_off else 2 if r < p.estimate_off + p.estimate_off_two else 0
        y += off * (1 if rng.random() < 0.5 else -1)
        kind, m, d = ("bare_year" if rng.random() < 0.3 else "default"), 1, 1
    elif rng.random() < p.default_date:
        kind, m, d = "default", 1, 1
    elif rng.random() < p.day_missing:
        kind = "no_day"
    if kind == "bare_year":
        return str(y), kind
    if kind == "no_day":
        return (f"{y:04d}-{m:02d}" if style == "iso" else f"{m:02d}/{y:04d}"), kind
    return (f"{y:04d}-{m:02d}-{d:02d}" if style == "iso" else f"{d:02d}/{m:02d}/{y:04d}"), kind


def _register(person: dict, clerk: _Clerk, p: HardParams, rng) -> dict[str, object]:
    scheme = clerk.scheme if rng.random() < p.loyalty else SCHEMES[rng.integers(len(SCHEMES))]
    given = _spell(person["given"], scheme, p, rng)
    family = _spell(person["family"], scheme, p, rng)
    father = _spell(person["father"], scheme, p, rng)
    if person["second_given"] is not None:  # a second given name: with the given, the family
        second = _spell(person["second_given"], scheme, p, rng)  # or left out
        where = rng.integers(3)
        given = f"{given} {second}" if where == 0 else given
        family = f"{second} {family}" if where == 1 else family
    fam_father = rng.random() < p.family_is_father
    if fam_father:
        family = father
    if rng.random() < p.father_missing or fam_father:
        father = ""
    swapped = rng.random() < p.swap
    if swapped:
        given, family = family, given
    dob, kind = _date(person, clerk, p, rng)
    place = "" if rng.random() < p.place_missing else _spell(person["place"], scheme, p, rng)
    sex = "" if rng.random() < p.sex_missing else person["sex"]
    names = [given, family, father, place]
    names = [s.upper() if clerk.upper else s.title() for s in names]
    return {
        "given_name": names[0],
        "family_name": names[1],
        "father_name": names[2],
        "sex": sex,
        "date_of_birth": dob,
        "place_of_birth": names[3],
        "_scheme": scheme.name,
        "_swapped": swapped,
        "_family_is_father": fam_father,
        "_date_kind": kind,
    }


def generate_hard(params: HardParams | str = "moderate", **overrides: object) -> HardRegisters:
    """Hard registers for a preset name or parameters (``overrides`` replace fields)."""
    p = PRESETS[params] if isinstance(params, str) else params
    p = replace(p, **overrides) if overrides else p  # type: ignore[arg-type]
    rng = np.random.default_rng(p.seed)
    people = _people(p, rng)
    agencies, truth, facts = {}, [], []
    records = people.to_dict(orient="records")
    for a, clerk in enumerate(_clerks(p)):
        name = f"agency-{chr(ord('a') + a)}"
        held = np.flatnonzero(rng.random(len(people)) < p.coverage)
        rows = [_register(records[i], clerk, p, rng) for i in held]
        df = pd.DataFrame(rows)
        refs = [f"{name[-1]}{k:06d}" for k in range(len(df))]
        order = rng.permutation(len(df))  # registers are not sorted by person
        df = df.assign(record_ref=refs, entity_id=people["entity_id"].to_numpy()[held])
        df = df.iloc[order].reset_index(drop=True)
        agencies[name] = df[["record_ref", *COLUMNS]].replace("", np.nan)
        truth.append(
            pd.DataFrame(
                {"agency": name, "record_ref": df["record_ref"], "entity_id": df["entity_id"]}
            )
        )
        facts.append(
            df[["record_ref", "_scheme", "_swapped", "_family_is_father", "_date_kind"]]
            .rename(columns=lambda c: c.lstrip("_"))
            .assign(agency=name)
        )
    return HardRegisters(
        agencies=agencies,
        truth=pd.concat(truth, ignore_index=True),
        people=people,
        facts=pd.concat(facts, ignore_index=True),
    )
