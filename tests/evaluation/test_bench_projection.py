"""The 10M projection: its units measured on a small register, its arithmetic, and the run
whose stages it scales."""

from __future__ import annotations

import math

import pytest

from evaluation._bench_projection import (
    CPUS_PER_NODE,
    NODES,
    RAY_EFFICIENCY,
    TARGET_RECORDS,
    measure_search_units,
    project,
    serial_stages,
)


def _stages(search: float, model: float) -> dict[str, float]:
    return {"search": search, "model": model, "calibration": 1.0, "pool": 0.5}


def test_the_stages_are_the_newest_two_agency_common_name_link():
    scale = {
        "runs": [
            {
                "people": 1_000_000,
                "mix": "rare",
                "measured_at": "2026-12-09T00:00:00",
                "link_stage_seconds": _stages(9.0, 9.0),
            },
            {
                "people": 1_000_000,
                "mix": "common",
                "agencies": 3,
                "measured_at": "2026-12-08T00:00:00",
                "link_stage_seconds": _stages(8.0, 80.0),
            },
            {
                "people": 300_000,
                "mix": "common",
                "measured_at": "2026-12-07T00:00:00",
                "link_stage_seconds": _stages(7.0, 7.0),
            },
            {
                "people": 1_000_000,
                "mix": "common",
                "measured_at": "2026-12-04T00:00:00",
                "link_stage_seconds": _stages(4.0, 4.0),
            },
        ],
        "stages_1m_common": {
            "mix": "common",
            "measured_at": "2026-12-05T00:00:00",
            "link_stage_seconds": _stages(5.0, 5.0),
        },
        "known_non_matches": {
            "what": "text",
            "compiled_em": {
                "people": 1_000_000,
                "mix": "common",
                "measured_at": "2026-12-06T00:00:00",
                "link_stage_seconds": _stages(6.0, 60.0),
            },
        },
    }
    # not the rare mix, not three agencies, not 300,000 people: the newest of the rest
    assert serial_stages(scale) == scale["known_non_matches"]["compiled_em"]
    del scale["known_non_matches"]["compiled_em"]
    assert serial_stages(scale)["link_stage_seconds"]["model"] == 5.0
    assert serial_stages({"runs": scale["runs"][:3]}) is None
    assert serial_stages({}) is None


def _measured(records: int, units: int, repeated: float, scoring: float) -> dict:
    half = records // 2
    return {
        "records": [half, records - half],
        "units": units,
        "unit_repeated_per_window_seconds": repeated,
        "unit_scoring_seconds": scoring,
        "fold_seconds": 0.5,
    }


def test_the_projection_is_the_arithmetic_it_writes_out():
    measured = [  # given out of order: sorted by size
        _measured(1_200_000, 1000, 0.4, 1.6),
        _measured(120_000, 500, 0.04, 0.04),
    ]
    out = project(measured, _stages(345.0, 60.0), source="2026-12-06")
    # repeated part linear in the records, scoring growing as records^1.6
    assert out["exponents"] == {"repeated": 1.0, "scoring": pytest.approx(1.602, abs=1e-3)}
    windows = out["windows_of_rows"]
    assert windows == math.ceil(TARGET_RECORDS // 2 * 10 * 16 / (256 * 2**20))
    grow = TARGET_RECORDS / 1_200_000
    per_task = 0.4 * grow + 1.6 * grow ** out["exponents"]["scoring"] / windows
    assert out["unit_seconds_per_window_at_target"] == pytest.approx(per_task, abs=0.02)
    # 500 -> 1,000 units over a decade of records: the same slope on to 10M
    assert out["units_at_target"] == round(1000 + 500 / math.log(10) * math.log(grow))
    walk = out["units_at_target"] * windows * per_task / (NODES * CPUS_PER_NODE * RAY_EFFICIENCY)
    assert out["search_walk_seconds"] == pytest.approx(walk, rel=1e-3)
    serial = (60.0 + 1.0 + 0.5) * TARGET_RECORDS / 1.2e6  # every stage but the search
    assert out["serial_stages_seconds"] == pytest.approx(serial, abs=0.1)
    assert out["projected_run_seconds"] == pytest.approx(
        out["search_walk_seconds"] + out["search_fold_seconds"] + serial, abs=0.2
    )
    line = next(x for x in out["arithmetic"] if x.startswith("stages not spread yet"))
    assert line.startswith("stages not spread yet (model, calibration, pool) = 61.5 s")
    assert "the two-agency link of 2026-12-06" in line
    assert f"= {out['projected_run_seconds']:.1f} s" in out["arithmetic"][-1]
    assert "serial_stages_seconds" not in project(measured, None)


def test_units_are_measured_on_a_register_and_split_into_their_two_parts():
    m = measure_search_units(3000, sample_units=3, seed=2)
    assert m["people"] == 3000 and m["units"] >= 3 and len(m["unit_seconds_sampled"]) == 3
    assert m["unit_repeated_per_window_seconds"] >= 0 and m["unit_scoring_seconds"] >= 0
    # a unit's time is the part every window repeats plus the part windows share
    total = m["unit_repeated_per_window_seconds"] + m["unit_scoring_seconds"]
    assert total == pytest.approx(m["unit_seconds_mean"], abs=2e-3)
    assert 0.3 < m["floor"] < 0.9 and m["fold_seconds"] >= 0
