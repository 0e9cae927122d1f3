"""The evaluator's summary is computed by the database (``Registry.figures``, which the
summary route shows); it must equal the same figures computed record by record."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage import Registry
from linkage._registry import records_table


def _figures(engine, conn, scope: str):
    return Registry(engine, scope=scope, create_tables=False).figures(connection=conn)


def test_aggregates_equal_a_record_by_record_count(engine):
    rng = np.random.default_rng(3)
    n = 400
    conf = np.r_[[0.0, 0.05, 0.15, 0.95, 0.999, 1.0], rng.random(n - 6)]
    frame = pd.DataFrame(
        {
            "agency": rng.choice(["a", "b", "c"], n),
            "case_id": [f"C{k}" for k in rng.integers(0, 150, n)],
            "confidence": conf,
        }
    )
    rows = [
        {
            "scope": "agr_s",
            "agency": r.agency,
            "record_ref": f"r{k}",
            "bloom": b"\0" * 8,
            "case_id": r.case_id,
            "confidence": float(r.confidence),
        }
        for k, r in enumerate(frame.itertuples())
    ]
    other = {**rows[0], "scope": "agr_other", "record_ref": "x"}  # another agreement's record
    with engine.begin() as c:
        c.execute(records_table.insert(), [*rows, other])
    with engine.connect() as c:
        got = _figures(engine, c, "agr_s")
    agencies = frame.groupby("case_id")["agency"].nunique()
    shared = agencies[agencies > 1].index
    assert got.records_by_agency == frame["agency"].value_counts().sort_index().to_dict()
    assert got.cases == frame["case_id"].nunique()
    assert got.cases_across_agencies == len(shared)
    assert got.records_in_shared_cases == int(frame["case_id"].isin(shared).sum())
    expected = np.minimum((conf * 10).astype(int), 9)  # conf is never exactly k/10 but 0 and 1
    assert list(got.confidence_bins) == np.bincount(expected, minlength=10).tolist()


def test_aggregates_of_an_empty_agreement(engine):
    with engine.connect() as c:
        got = _figures(engine, c, "agr_empty")
    assert got.cases == got.cases_across_agencies == got.records_in_shared_cases == 0
    assert got.records_by_agency == {} and got.confidence_bins == (0,) * 10
