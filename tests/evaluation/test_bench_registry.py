"""`caselink bench --only registry_writes` at a tiny size: both ways write every case (the
figures are speed only, not checked here)."""

import sqlalchemy as sa

from evaluation._bench_registry import _write, bench_registry_writes
from linkage._registry import cases_table


def test_both_ways_write_every_case_and_its_confidence(tmp_path):
    for one_by_one in (False, True):
        url = f"sqlite:///{tmp_path / f'{one_by_one}.db'}"
        assert _write(url, 50, one_by_one) >= 0
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(cases_table.c.confidence)).scalars().all()
        engine.dispose()
        assert len(rows) == 50 and set(rows) == {0.7}


def test_the_section_reports_both_medians_and_their_ratio():
    r = bench_registry_writes(n=20, repeats=1)
    assert r["cases"] == 20 and isinstance(r["ratio"], float)  # no claim on speed here
    assert len(r["executemany"]["runs"]) == len(r["one_statement_per_case"]["runs"]) == 1
