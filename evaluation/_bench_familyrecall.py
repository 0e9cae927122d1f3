"""`caselink bench --only families_recall`: family-level recall of tracing queries, through a
real service.

Per household set of :func:`evaluation._bench_families.family_set` (three agencies), a fresh
``caselink serve`` on SQLite takes each agency's register (encoded with the ``person`` schema
under the bench's fixed secret, so the batches carry households, relationships and consent)
under one agreement, and links them by one run. A tracing team, party to the agreement and
holding no records, then asks for the sought families of :func:`evaluation.sought_families`
(a tracer's noisy description of some members of each family), each family one query encoded
offline with the same encoder, as ``caselink query`` sends it (``top_k`` 5, the service's
``min_confidence``). A sought member is *found* when one of its answered cases holds one of
the person's records (read back by each agency); per family, :func:`evaluation.family_recall`
says whether every member and whether at least one was found. The families are those the
answer's ``families`` names. ``top5_or_lead`` counts a member as found also when one of the
family's *leads* for it (a case below the floor registered in one household with a found
relative's: :mod:`service._families`) holds the person.

The same queries are asked again once the agreement maps ``tracing`` to the consent scope
``tracing``: only records whose consent covers it are searched, so a person none of whose
registrations consented cannot be found at all (``reachable``). The misses of the first pass
are then looked at: asked again with ``top_k`` 20 and no confidence floor, is the right case
ranked low or below the floor, or not among the candidates at all; how many of the listed
ones are registered, at some agency, in one household with a found relative (the misses the
family's found members point to); and who the missed members are (their role, how many
registrations they have, how much of a birth date and place the tracer gave).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._bench_families import SECRET, family_set
from evaluation._bench_query import _first_answer
from evaluation._bench_service import (
    PURPOSE,
    TRACER,
    bootstrap_keys,
    create_agreement,
    mint_keys,
    percentiles,
)
from evaluation._family_metrics import family_recall, members_found
from evaluation._households_synth import HouseholdData
from evaluation._tracing import SoughtFamilies, sought_families

__all__ = ["answered_records", "bench_families_recall", "missed_members", "recall_figures"]

SCOPE = "tracing"
TOP_K = 5  # caselink query's default
WIDE_TOP_K = 20  # the service's default top_k limit
FLOOR = 0.05  # the query endpoint's default min_confidence


def answered_records(answers: Sequence[dict], held: pd.DataFrame, best_only: bool) -> pd.DataFrame:
    """``record_ref`` (the sought member's), ``agency``, ``answer_ref`` for each record of each
    case answered for a member (its best case only if ``best_only``). ``answers``: the JSON
    answers; ``held``: ``agency, record_ref, case_id`` of every record the agencies hold."""
    rows = [
        (result["query_ref"], cand["case_id"])
        for answer in answers
        for result in answer["results"]
        for cand in result["candidates"][: 1 if best_only else None]
    ]
    found = pd.DataFrame(rows, columns=["record_ref", "case_id"])
    records = held[["agency", "record_ref", "case_id"]].rename(columns={"record_ref": "answer_ref"})
    return found.merge(records, on="case_id")[["record_ref", "agency", "answer_ref"]]


def led_records(answers: Sequence[dict], held: pd.DataFrame) -> pd.DataFrame:
    """``record_ref`` (the member not found), ``agency``, ``answer_ref`` for each record of
    each case the answers' families give as a lead (a case registered in one household with
    a found relative's), as :func:`answered_records` gives the answered ones."""
    rows = [
        (lead["member"], lead["case_id"])
        for answer in answers
        for family in answer["families"] or []
        for lead in family.get("leads", ())
    ]
    found = pd.DataFrame(rows, columns=["record_ref", "case_id"])
    records = held[["agency", "record_ref", "case_id"]].rename(columns={"record_ref": "answer_ref"})
    return found.merge(records, on="case_id")[["record_ref", "agency", "answer_ref"]]


def _family_members(answers: Sequence[dict]) -> pd.DataFrame:
    """``record_ref, family, answered, together`` per member the answers' ``families`` name:
    the family's position, whether the service says it was answered (some case) and found
    registered together with another member somewhere."""
    rows = []
    for answer in answers:
        for family in answer["families"] or []:
            answered, together = set(family["members_found"]), set(family["found_together"])
            key = family["members"][0]
            rows += [(m, key, m in answered, m in together) for m in family["members"]]
    return pd.DataFrame(rows, columns=["record_ref", "family", "answered", "together"])


def _shares(family: np.ndarray, flag: np.ndarray) -> tuple[float, float]:
    """(every member, some member) shares of families for a per-member ``flag``."""
    r = family_recall(family, flag)
    return round(r.every_member_found, 4), round(r.some_member_found, 4)


def recall_figures(
    sought: pd.DataFrame,
    answers: Sequence[dict],
    held: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    scoped: bool = False,
) -> dict[str, Any]:
    """Family-level recall of one pass of queries.

    ``sought``: ``record_ref, entity_id, registrations, tracing_registrations`` per sought
    member (:attr:`evaluation.SoughtFamilies.truth`); ``answers``: the JSON answers to the
    families' queries; ``held``: ``agency, record_ref, case_id`` per held record; ``truth``:
    ``agency, record_ref, entity_id`` per held record. With ``scoped``, a member is
    *reachable* only through registrations whose consent covers tracing.
    """
    members = _family_members(answers)
    named = members.merge(sought, on="record_ref", how="left", validate="1:1")
    if len(named) != len(sought) or named["entity_id"].isna().any():
        raise ValueError("the answers' families must name each sought member once")
    family = named["family"].to_numpy()
    found = {
        k: members_found(named, answered_records(answers, held, best_only), truth)
        for k, best_only in (("top5", False), ("top1", True))
    }
    led = members_found(named, led_records(answers, held), truth)
    found["top5_or_lead"] = found["top5"] | led
    reach_col = "tracing_registrations" if scoped else "registrations"
    reachable = named[reach_col].to_numpy() > 0
    out: dict[str, Any] = {"families": int(pd.unique(family).size), "members": len(named)}
    for k, hit in found.items():
        every, some = _shares(family, hit)
        out[k] = {
            "some_member_found": some,
            "every_member_found": every,
            "members_found": round(float(hit.mean()), 4),
        }
    out["top5_or_lead"]["leads"] = sum(
        len(f.get("leads", ())) for a in answers for f in a["families"] or []
    )
    out["top5_or_lead"]["members_found_by_a_lead_alone"] = int((led & ~found["top5"]).sum())
    every_reachable, some_reachable = _shares(family, reachable)
    whole = pd.Series(reachable).groupby(family).transform("all").to_numpy()
    out["reachable"] = {
        "members": round(float(reachable.mean()), 4),
        "families_with_every_member": every_reachable,
        "families_with_some_member": some_reachable,
        "every_member_found_where_every_member_reachable": (
            _shares(family[whole], found["top5"][whole])[0] if whole.any() else None
        ),
    }
    answered_every, answered_some = _shares(family, named["answered"].to_numpy())
    out["service_view"] = {  # what the tracer is told, right or wrong
        "families_with_members_answered": answered_some,
        "families_with_every_member_answered": answered_every,
        "families_found_together": round(
            float(pd.Series(named["together"].to_numpy()).groupby(family).any().mean()), 4
        ),
    }
    return out


def _date_given(dates: pd.Series) -> np.ndarray:
    """How much of a birth date a description gives: ``full``, ``year`` or ``none``."""
    d = dates.astype(object)
    full = d.notna() & d.astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    return np.where(d.isna(), "none", np.where(full, "full", "year"))


def _counts(values: pd.Series, missed: np.ndarray) -> dict[str, dict[str, int]]:
    """Per value: how many of the missed members have it, of how many sought."""
    everyone = values.value_counts()
    got = values[missed].value_counts()
    return {
        str(k): {"missed": int(got.get(k, 0)), "of": int(n)}
        for k, n in everyone.sort_index().items()
    }


def missed_members(
    sought: pd.DataFrame, queries: pd.DataFrame, found: np.ndarray, wide: pd.DataFrame
) -> dict[str, Any]:
    """Who the missed sought members are, and why.

    ``sought``: :attr:`evaluation.SoughtFamilies.truth` (``record_ref``, ``role``,
    ``registrations``); ``queries``: the descriptions sent (``record_ref``,
    ``date_of_birth``, ``father_name``, ``place_of_birth``); ``found``: per row of
    ``sought``, found in the top-5 pass; ``wide``: ``record_ref, rank, confidence`` of the
    right case of each member whose right case was among the candidates when asked with
    ``top_k`` 20 and no confidence floor (rank 1 first). A miss is then ranked below the
    top 5, or below the service's confidence floor (``floor``), or not among the 20
    candidates at all.
    """
    missed = ~np.asarray(found, dtype=bool)
    q = sought[["record_ref"]].merge(queries, on="record_ref", how="left", validate="1:1")
    right = sought[["record_ref"]].merge(wide, on="record_ref", how="left", validate="1:1")
    rank, conf = right["rank"].to_numpy(float)[missed], right["confidence"].to_numpy(float)[missed]
    listed = ~np.isnan(rank)
    given = pd.DataFrame(
        {
            "date_of_birth": _date_given(q["date_of_birth"]),
            "father_name": np.where(q["father_name"].isna(), "none", "given"),
            "place_of_birth": np.where(q["place_of_birth"].isna(), "none", "given"),
        }
    )
    return {
        "missed": int(missed.sum()),
        "of": int(missed.size),
        "right_case_below_confidence_floor": int((listed & (conf < FLOOR)).sum()),
        "right_case_ranked_below_top5": int((listed & (conf >= FLOOR) & (rank > TOP_K)).sum()),
        "right_case_not_among_20_candidates": int((~listed).sum()),
        "by_role": _counts(sought["role"], missed),
        "by_registrations": _counts(sought["registrations"], missed),
        "by_description": {c: _counts(given[c], missed) for c in given.columns},
    }


def right_cases(
    sought: pd.DataFrame, answers: Sequence[dict], held: pd.DataFrame, truth: pd.DataFrame
) -> pd.DataFrame:
    """``record_ref, rank, confidence, case_id`` of the best-ranked answered case holding a
    record of each sought member (members whose right case was not answered are left out)."""
    rows = [
        (result["query_ref"], k + 1, cand["confidence"], cand["case_id"])
        for answer in answers
        for result in answer["results"]
        for k, cand in enumerate(result["candidates"])
    ]
    cands = pd.DataFrame(rows, columns=["record_ref", "rank", "confidence", "case_id"])
    person = held.merge(truth[["agency", "record_ref", "entity_id"]], on=["agency", "record_ref"])
    cases = person[["case_id", "entity_id"]].drop_duplicates()
    m = cands.merge(cases, on="case_id").merge(
        sought[["record_ref", "entity_id"]], on=["record_ref", "entity_id"]
    )
    best = m.sort_values("rank").drop_duplicates("record_ref")
    return best[["record_ref", "rank", "confidence", "case_id"]].reset_index(drop=True)


def beside_found_relatives(
    sought: pd.DataFrame, found: pd.DataFrame, missed: pd.DataFrame, held: pd.DataFrame
) -> int:
    """How many missed members' right cases (``missed``: ``record_ref, case_id``, from a
    wider search) have a record registered in one household with a record of a found
    relative's right case (``found``: ``record_ref, case_id``; a relative: a member of the
    same sought family, ``sought``'s ``household_id``). ``held``: ``agency, record_ref,
    case_id, household_id`` (the agency's own household id, missing where none) per held
    record. These are the misses that the family's found members point to."""
    family = sought.set_index("record_ref")["household_id"]
    homes = held.dropna(subset=["household_id"])[["case_id", "agency", "household_id"]]

    def where(cases: pd.DataFrame) -> pd.DataFrame:
        placed = cases.merge(homes, on="case_id").assign(
            family=lambda d: d["record_ref"].map(family)
        )
        return placed[["family", "record_ref", "agency", "household_id"]]

    both = where(missed).merge(where(found), on=["family", "agency", "household_id"])
    return int(both.loc[both["record_ref_x"] != both["record_ref_y"], "record_ref_x"].nunique())


def _parties(svc_url: str, minting: str, agencies: list[str]) -> tuple[dict, str]:
    """The agencies and the tracing team, a submitter key each, a tracer key."""
    from service.client import Client

    with Client(svc_url, minting) as c:
        for agency in [*agencies, TRACER]:
            c.create_agency(agency)
    submitters = {a: mint_keys(svc_url, minting, a, "submitter", 1)[0] for a in agencies}
    return submitters, mint_keys(svc_url, minting, TRACER, "tracer", 1)[0]


def _link(svc_url: str, agreement: str, registers: dict, submitters: dict, work: Path) -> dict:
    """Upload each agency's register, run, and read back every held record's case."""
    from service.client import Client

    schema = bloom.Schema.load("person")
    for agency, df in registers.items():
        path = work / f"{agency}.parquet"
        bloom.encode(df, schema, SECRET, agency=agency, id_column="record_ref").write(path)
        with Client(svc_url, submitters[agency], timeout=600) as c:
            c.upload(agreement, path)
    first = submitters[next(iter(registers))]
    t0 = time.perf_counter()
    with Client(svc_url, first, timeout=600) as c:
        run = c.wait_run(agreement, c.start_run(agreement)["run_id"], timeout=1800, poll=1.0)
    if run["status"] != "succeeded":
        raise RuntimeError(f"the run failed: {run.get('error')}")
    seconds = time.perf_counter() - t0
    frames = []
    for agency, key in submitters.items():
        with Client(svc_url, key, timeout=600) as c:
            frames.append(pd.DataFrame(list(c.iter_cases(agreement))).assign(agency=agency))
    held = pd.concat(frames, ignore_index=True)[["agency", "record_ref", "case_id"]]
    return {"held": held, "run_seconds": round(seconds, 1)}


def _family_bodies(sought: SoughtFamilies, work: Path) -> list[bytes]:
    """Each sought family as the encoded batch its tracer sends."""
    schema = bloom.Schema.load("person")
    out = []
    for _, family in sought.queries.groupby("household_id", sort=True):
        path = work / "family.parquet"
        bloom.encode(family, schema, SECRET, agency=TRACER, id_column="record_ref").write(path)
        out.append(path.read_bytes())
    return out


def _ask(svc_url: str, agreement: str, tracer: str, bodies: list[bytes], **params) -> tuple:
    """The answers to each family's query and each one's time at the client (ms)."""
    from service.client import Client

    answers, ms = [], []
    with Client(svc_url, tracer, timeout=120) as c:
        _first_answer(c, agreement, bodies[0])  # warm-up; waits out the index's rebuild
        for body in bodies:
            t = time.perf_counter()
            answers.append(c.query(agreement, body, purpose=PURPOSE, **params))
            ms.append((time.perf_counter() - t) * 1000)
    return answers, np.array(ms)


@dataclass(frozen=True)
class _Keys:
    steward: str
    submitters: dict[str, str]  # agency -> its submitter key
    tracer: str  # the tracing team's


def _misses(
    sought: SoughtFamilies,
    hit: np.ndarray,
    plain: list[dict],
    wide: list[dict],
    held: pd.DataFrame,
    data: HouseholdData,
) -> dict[str, Any]:
    """:func:`missed_members` of the top-5 pass, and how many of the misses whose right case
    the wider search listed are registered in one household with a found relative."""
    st, truth = sought.truth, data.truth
    right = right_cases(st, wide, held, truth)
    out = missed_members(st, sought.queries, hit, right)
    homes = pd.concat(
        [r[["record_ref", "household_id"]].assign(agency=a) for a, r in data.agencies.items()]
    )
    held_homes = held.merge(homes, on=["agency", "record_ref"], how="left")
    missed = right[right["record_ref"].isin(st.loc[~hit, "record_ref"])]
    found = right_cases(st, plain, held, truth)
    out["listed_misses_beside_a_found_relative"] = beside_found_relatives(
        st, found, missed, held_homes
    )
    return out


def _one_set(
    svc_url: str, keys: _Keys, name: str, data: HouseholdData, sought: SoughtFamilies, work: Path
) -> dict[str, Any]:
    """One household set linked under its own agreement on the running service, and its
    sought families asked for, without and then with the tracing scope."""
    from service.client import Client

    bodies = _family_bodies(sought, work)
    parties = [*data.agencies, TRACER]
    agreement = create_agreement(svc_url, keys.steward, bloom.Schema.load("person"), parties, name)
    linked = _link(svc_url, agreement, dict(data.agencies), keys.submitters, work)
    held, tracer = linked["held"], keys.tracer
    load = os.getloadavg()
    plain, ms = _ask(svc_url, agreement, tracer, bodies, top_k=TOP_K)
    wide, _ = _ask(svc_url, agreement, tracer, bodies, top_k=WIDE_TOP_K, min_confidence=0.0)
    with Client(svc_url, keys.steward) as steward:
        steward.amend_agreement(agreement, purpose_scopes={PURPOSE: SCOPE})
    scoped, scoped_ms = _ask(svc_url, agreement, tracer, bodies, top_k=TOP_K)
    load_after = os.getloadavg()
    truth, st = data.truth, sought.truth
    hit = members_found(st, answered_records(plain, held, best_only=False), truth)
    return {
        "records": len(truth),
        "agencies": len(data.agencies),
        "run_seconds": linked["run_seconds"],
        "cases": int(held["case_id"].nunique()),
        "members_per_family_mean": round(len(st) / st["household_id"].nunique(), 2),
        "no_scope": recall_figures(st, plain, held, truth),
        "tracing_scope": recall_figures(st, scoped, held, truth, scoped=True),
        "misses_without_scope": _misses(sought, hit, plain, wide, held, data),
        "query_ms_per_family": percentiles(ms),
        "query_ms_per_family_scoped": percentiles(scoped_ms),
        "load_average_before_queries": [round(x, 2) for x in load],
        "load_average_after_queries": [round(x, 2) for x in load_after],
    }


def bench_families_recall(
    people: int = 3000,
    n_families: int = 200,
    sets: Sequence[str] = ("default", "hard"),
    seed: int = 0,
    run_cpus: int = 2,
) -> dict[str, Any]:
    """Per household set: family-level recall of tracing queries through the service, without
    and with a tracing consent scope (module docstring)."""
    from service._process import ServiceProcess

    out: dict[str, Any] = {
        "people": people,
        "sought_families": n_families,
        "seed": seed,
        "top_k": TOP_K,
        "target_some_member_found": 0.95,
    }
    with tempfile.TemporaryDirectory(prefix="caselink-bench-familyrecall-") as tmp:
        work = Path(tmp)
        url_db = f"sqlite:///{(work / 'caselink.db').resolve()}"
        minting, steward = bootstrap_keys(url_db)
        env = {
            "CASELINK_LOG_FORMAT": "text",
            "CASELINK_RUN_NUM_CPUS": str(run_cpus),
            "CASELINK_DATA_KEY_FILE": str(work / "data-keys"),
            "CASELINK_QUERY_RATE_PER_MINUTE": "1000000",
            "CASELINK_QUERY_BURST": "10000",
            "CASELINK_QUERY_TOP_K_MAX": str(WIDE_TOP_K),
        }
        keys: _Keys | None = None
        with ServiceProcess(url_db, log=work / "service.log", env=env, startup_timeout=180) as svc:
            for name in sets:
                t0 = time.perf_counter()
                data = family_set(name, people, seed)
                sought = sought_families(data, n_families, seed=seed + 1)
                if keys is None:  # the same agencies in every set
                    keys = _Keys(steward, *_parties(svc.url, minting, list(data.agencies)))
                (work / name).mkdir()
                out[name] = _one_set(svc.url, keys, name, data, sought, work / name)
                out[name]["seconds"] = round(time.perf_counter() - t0, 1)
    return out
