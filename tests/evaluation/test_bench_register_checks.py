"""The register-checks bench section: its register is the one it says, its figures add up."""

from __future__ import annotations

import bloom
from evaluation._bench_register_checks import bench_register_checks, synthetic_register


def test_register_is_seeded_and_has_the_promised_date_mix() -> None:
    a, b = synthetic_register(4000, seed=3), synthetic_register(4000, seed=3)
    assert a.equals(b)
    assert a["record_ref"].is_unique
    dates = a["date_of_birth"]
    iso = dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").mean()
    day_first = dates.str.fullmatch(r"\d{2}/\d{2}/\d{4}").mean()
    year_only = dates.str.fullmatch(r"\d{4}").mean()
    assert abs(iso - 0.80) < 0.03 and abs(day_first - 0.15) < 0.03 and abs(year_only - 0.05) < 0.02
    assert set(a["sex"]) == {"F", "M"}


def test_figures_cover_each_schema_and_the_share_is_a_part_of_the_whole(tmp_path) -> None:
    figures = bench_register_checks(rows=3000, repeats=1, schemas=("person",))
    person = figures["person"]
    assert figures["rows"] == 3000 and figures["input_mb"] > 0
    assert person["encode_cpu_s"] > 0 and person["checks_cpu_s"] > 0
    assert 0 < person["checks_share_of_encode_cpu"] < 1
    # the register encodes cleanly: the bench measures the path with no problems to report
    frame = synthetic_register(500)
    batch = bloom.encode(
        frame,
        bloom.Schema.load("person"),
        bloom.Secret.generate(),
        agency="bench",
        id_column="record_ref",
    )
    assert len(batch) == 500
