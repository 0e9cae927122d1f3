"""Two agencies' registers of households, with the truth, for collective linkage.

A small seeded generator of its own (the evaluation's household generator is another
package's): households of a head, often a spouse, and children who share the head's family
name and have his given name as their father's name; twins share a birth date. Each agency
registers a household with some of its members (members missing at one agency), now and
then the head apart from the others (a household of one, the spouse then heading the rest),
and every registration is a noisy copy (typos and transliterations of names, father's name
missing, year of birth only or off by one). A share of people are registered alone, in no
household.

``python -m tests.linkage.households_data`` links such registers with and without their
households and prints pairwise F1 and precision on sibling and twin pairs, per seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import bloom
from bloom._households import group_keys, relationship_codes
from evaluation._metrics import pairwise_scores
from evaluation._spelling import distribution, transliteration_alternatives, typo_alternatives

TRADITIONS = ("arabic", "dari_pashto", "somali", "ukrainian", "spanish", "french_africa")
AGENCIES = ("north", "south")


@dataclass(frozen=True)
class Noise:
    """Probability of each corruption per registration and field."""

    typo: float = 0.12
    transliteration: float = 0.15
    father_missing: float = 0.2
    year_only: float = 0.12
    year_off: float = 0.06
    relationship_missing: float = 0.05


HEAVY = Noise(typo=0.35, transliteration=0.35, father_missing=0.3, year_only=0.25, year_off=0.15)


@dataclass(frozen=True)
class HouseholdData:
    registers: dict[str, pd.DataFrame]  # agency -> record_ref, person columns, group, role
    truth: pd.DataFrame  # agency, record_ref, person, family, child, twin_set

    def batches(
        self, schema: bloom.Schema, secret: bloom.Secret, *, households: bool = True
    ) -> list[bloom.EncodedBatch]:
        out = []
        for agency, df in self.registers.items():
            batch = bloom.encode(df, schema, secret, agency=agency, id_column="record_ref")
            assert list(batch.record_refs) == list(df["record_ref"])
            if households:
                codes, unknown = relationship_codes(df["relationship"].tolist())
                assert unknown.size == 0
                batch = dataclasses.replace(
                    batch,
                    groups=group_keys(secret, agency, df["group_ref"].tolist()),
                    relationships=codes,
                )
            out.append(batch)
        return out


def _pick(rng: np.random.Generator, tradition: str, kind: str, size: int) -> np.ndarray:
    names, probs = distribution(tradition, kind)
    return np.asarray(names, dtype=object)[rng.choice(len(names), size, p=probs)]


def _people(rng: np.random.Generator, n_households: int, alone: float) -> pd.DataFrame:
    """Everyone, one row per person: names, sex, birth date, household and role."""
    rows = []
    for h in range(n_households):
        t = TRADITIONS[rng.integers(len(TRADITIONS))]
        family, place = _pick(rng, t, "family", 1)[0], _pick(rng, t, "place", 1)[0]
        head_year = int(rng.integers(1960, 1995))
        head = dict(given=_pick(rng, t, "given_male", 1)[0], sex="M", role="head")
        head |= dict(family=family, father=_pick(rng, t, "given_male", 1)[0], year=head_year)
        members = [head]
        if rng.random() >= alone:
            if rng.random() < 0.85:
                spouse_family = family if rng.random() < 0.5 else _pick(rng, t, "family", 1)[0]
                members.append(
                    dict(
                        given=_pick(rng, t, "given_female", 1)[0],
                        sex="F",
                        role="spouse",
                        family=spouse_family,
                        father=_pick(rng, t, "given_male", 1)[0],
                        year=head_year + int(rng.integers(-2, 8)),
                    )
                )
            n_children = min(int(rng.poisson(2.5)), 6)
            first_child = head_year + int(rng.integers(20, 30))
            for c in range(n_children):
                sex = "F" if rng.random() < 0.5 else "M"
                year = min(first_child + 2 * c + int(rng.integers(0, 2)), 2024)
                kind = "given_female" if sex == "F" else "given_male"
                members.append(
                    dict(
                        given=_pick(rng, t, kind, 1)[0],
                        sex=sex,
                        role="child",
                        family=family,
                        father=head["given"],
                        year=year,
                    )
                )
        children = [m for m in members if m["role"] == "child"]
        twins = len(children) >= 2 and rng.random() < 0.25
        for _k, m in enumerate(members):
            m |= dict(
                household=h,
                tradition=t,
                place=place,
                month=int(rng.integers(1, 13)),
                day=int(rng.integers(1, 29)),
                twin_set=-1,
            )
            m["alone"] = len(members) == 1
        if twins:  # the first two children: one birth date, distinct given names
            a, b = children[0], children[1]
            b |= dict(year=a["year"], month=a["month"], day=a["day"])
            a["twin_set"] = b["twin_set"] = h
            while b["given"] == a["given"]:
                kind = "given_female" if b["sex"] == "F" else "given_male"
                b["given"] = _pick(rng, t, kind, 1)[0]
        rows += members
    people = pd.DataFrame(rows)
    people["person"] = np.arange(len(people))
    return people


def _noisy(rng: np.random.Generator, names: list[str], tradition: str, noise: Noise) -> list[str]:
    out = []
    for name in names:
        if rng.random() < noise.transliteration:
            alts = transliteration_alternatives(tradition, name)
            if alts:
                name = alts[rng.integers(len(alts))][0]
        if rng.random() < noise.typo:
            alts = typo_alternatives(name)
            if alts:
                name = alts[rng.integers(len(alts))][0]
        out.append(name)
    return out


def _register(
    rng: np.random.Generator, people: pd.DataFrame, agency: int, noise: Noise
) -> pd.DataFrame:
    """One agency's registrations: which households and members it holds, and their copies."""
    held_household = rng.random(people["household"].max() + 1) < 0.75
    keep = held_household[people["household"]] & (rng.random(len(people)) < 0.85)
    reg = people[keep].copy()
    # now and then the head is registered apart, and the spouse heads the rest
    apart = rng.random(people["household"].max() + 1) < 0.2
    split = apart[reg["household"]] & ~reg["alone"]
    group = reg["household"].astype(str)
    head_apart = split & (reg["role"] == "head")
    group.loc[head_apart] = group[head_apart] + "-apart"
    reg["group_ref"] = f"{agency}-" + group
    reg["relationship"] = reg["role"]
    reg.loc[split & (reg["role"] == "spouse"), "relationship"] = "head"
    reg.loc[reg["alone"], "group_ref"] = None  # a person alone is in no household
    reg.loc[rng.random(len(reg)) < noise.relationship_missing, "relationship"] = None
    given, family, father = [], [], []
    for t, g, f, fa in zip(
        reg["tradition"], reg["given"], reg["family"], reg["father"], strict=True
    ):
        a, b, c = _noisy(rng, [g, f, fa], t, noise)
        given.append(a)
        family.append(b)
        father.append(c)
    reg["given_name"], reg["family_name"], reg["father_name"] = given, family, father
    reg.loc[rng.random(len(reg)) < noise.father_missing, "father_name"] = None
    year = reg["year"] + np.where(rng.random(len(reg)) < noise.year_off, 1, 0)
    date = [
        f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in zip(year, reg["month"], reg["day"], strict=True)
    ]
    only = rng.random(len(reg)) < noise.year_only
    reg["date_of_birth"] = np.where(only, year.astype(str), date)
    reg["place_of_birth"] = reg["place"]
    reg = reg.sample(frac=1.0, random_state=int(rng.integers(1 << 31)))
    reg["record_ref"] = [f"{AGENCIES[agency][0].upper()}{k:06d}" for k in range(len(reg))]
    return reg.reset_index(drop=True)


def generate_households(
    n_households: int, seed: int, *, noise: Noise | None = None, alone: float = 0.25
) -> HouseholdData:
    """Two registers (``north``, ``south``) of ``n_households`` households; ``alone``: the
    share of households of one person, registered in no household."""
    rng = np.random.default_rng(seed)
    people = _people(rng, n_households, alone)
    registers, truth = {}, []
    columns = ["record_ref", "given_name", "family_name", "father_name", "sex"]
    columns += ["date_of_birth", "place_of_birth", "group_ref", "relationship"]
    for k, agency in enumerate(AGENCIES):
        reg = _register(rng, people, k, noise or Noise())
        registers[agency] = reg[columns]
        truth.append(
            pd.DataFrame(
                {
                    "agency": agency,
                    "record_ref": reg["record_ref"],
                    "person": reg["person"],
                    "family": reg["household"],
                    "child": reg["role"] == "child",
                    "twin_set": reg["twin_set"],
                }
            )
        )
    return HouseholdData(registers, pd.concat(truth, ignore_index=True))


@dataclass(frozen=True)
class Scores:
    f1: float
    precision: float
    recall: float
    sibling_precision: float  # among linked pairs of two children of one family
    sibling_pairs: int
    twin_precision: float  # among linked pairs of two twins of one set
    twin_pairs: int


def scores(data: HouseholdData, assignments: pd.DataFrame) -> Scores:
    """Pairwise scores of a run's cases, and precision on the pairs it linked between two
    children of one family (the same child, or siblings) and between two twins of one set."""
    cases = assignments.merge(data.truth, on=["agency", "record_ref"])
    overall = pairwise_scores(cases["case_id"].to_numpy(), cases["person"].to_numpy())
    a = cases[cases["agency"] == AGENCIES[0]]
    b = cases[cases["agency"] == AGENCIES[1]]
    linked = a.merge(b, on="case_id", suffixes=("_a", "_b"))
    same = linked["person_a"] == linked["person_b"]
    sib = linked["child_a"] & linked["child_b"] & (linked["family_a"] == linked["family_b"])
    twin = (linked["twin_set_a"] >= 0) & (linked["twin_set_a"] == linked["twin_set_b"])

    def precision(mask: pd.Series) -> float:
        return float(same[mask].mean()) if mask.any() else 1.0

    return Scores(
        overall.f1,
        overall.precision,
        overall.recall,
        precision(sib),
        int(sib.sum()),
        precision(twin),
        int(twin.sum()),
    )


def main() -> None:  # pragma: no cover - a measurement, run by hand
    from linkage import plan_link

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--heavy", action="store_true", help="the heavy noise of the tests")
    args = parser.parse_args()
    schema, secret = bloom.Schema.load("person"), bloom.Secret(bytes(range(32)))
    noise = HEAVY if args.heavy else Noise()
    for seed in args.seeds:
        data = generate_households(args.households, seed, noise=noise)
        for households in (False, True):
            started = time.perf_counter()
            batches = data.batches(schema, secret, households=households)
            report = plan_link(batches)
            s = scores(data, report.assignments)
            print(  # noqa: T201
                f"seed {seed} households={households!s:5} records {len(report.assignments)} "
                f"F1 {s.f1:.4f} P {s.precision:.4f} R {s.recall:.4f} "
                f"siblings {s.sibling_precision:.4f} ({s.sibling_pairs}) "
                f"twins {s.twin_precision:.4f} ({s.twin_pairs}) "
                f"{time.perf_counter() - started:.1f} s (households stage "
                f"{report.stages.get('households', 0):.2f} s)"
            )


if __name__ == "__main__":  # pragma: no cover
    main()
