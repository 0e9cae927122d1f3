"""The privacy table of `caselink bench --only privacy`: its rows and columns, the Pareto front,
the plot, the report's section, and the settings it is made of."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bloom
import evaluation._privacy_bench as bench
from evaluation._attack import HARDENING_SETTINGS, privacy_table
from evaluation._privacy_bench import privacy_bench, privacy_figures, privacy_frame, size_column
from evaluation._privacy_markdown import privacy_markdown
from evaluation._privacy_pareto import pareto_front, plot_pareto
from evaluation._privacy_settings import (
    DEFAULT,
    MAIN_SETTINGS,
    RECALL,
    V2,
    V3,
    privacy_settings,
    setting_schemas,
)

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = {"graph_records": 30, "rounds": 0, "known": 10}
F1 = {"none": (0.9998, 0.9993, 0.989), "balance": (0.9999, 0.9987, 0.962)}


@pytest.fixture()
def fake_f1(monkeypatch):
    """F1 by setting's fingerprint (the real routine links FEBRL4 and FEBRL3: seconds each)."""
    settings = setting_schemas({k: privacy_settings()[k] for k in F1})
    by_fp = {p.fingerprint: F1[name] for name, (p, _) in settings.items()}
    calls = []

    def f1(person, febrl):
        calls.append(person.fingerprint)
        return by_fp[person.fingerprint]

    monkeypatch.setattr(bench, "dataset_f1", f1)
    return calls


ATTACK_COLUMNS = (
    *("freq_given", "freq_family", "attr_sex", "attr_birth_year", "attr_place_of_birth"),
    *("graph_overlap_reidentified", "graph_known_precision"),
)


@pytest.fixture()
def fake_attacks(monkeypatch):
    """A stand-in for privacy_table (its attacks take minutes): checks what the bench asks
    for and answers a share that depends on the setting's schema and the size."""
    calls = []

    def table(n_people, seed, *, settings, records, overlap_records, on_row, **attack):
        assert records == overlap_records and n_people >= records / 0.6 and attack == SMALL
        calls.append((records, list(settings)))
        attrs = {"records_attacked": records}
        rows = []
        for name, schema in settings.items():
            share = (0.8 if not schema.hardening.enabled else 0.02) * (1 + records / 1e4)
            rows.append({"setting": name, **dict.fromkeys(ATTACK_COLUMNS, share)})
            on_row(rows[-1], attrs)
        out = pd.DataFrame(rows)
        out.attrs = attrs
        return out

    monkeypatch.setattr(bench, "privacy_table", table)
    return calls


def test_one_row_per_setting_attack_columns_per_size_and_f1_once(fake_f1, fake_attacks, tmp_path):
    settings = {k: privacy_settings()[k] for k in F1}
    table = privacy_bench(
        (200, 260), settings, only_at={260: ("none",)}, attack=SMALL, plot=tmp_path / "front.png"
    )
    assert table["setting"].tolist() == ["none", "balance"]
    assert fake_attacks == [(200, ["none", "balance"]), (260, ["none"])]
    assert len(fake_f1) == 2  # once per setting, whatever the sizes
    assert table["f1_synthetic"].tolist() == [0.989, 0.962]
    for size in (200, 260):
        assert {size_column(c, size) for c in ATTACK_COLUMNS} <= set(table.columns)
    assert table[size_column("freq_given", 260)].tolist()[0] == pytest.approx(0.8 * 1.026)
    assert math.isnan(table[size_column("freq_given", 260)].iloc[1])  # balance: not at 260
    assert table.attrs["settings_at"] == {200: ["none", "balance"], 260: ["none"]}
    assert table.attrs["attack_facts"][260]["records_attacked"] == 260
    assert table["reid_names"].tolist() == pytest.approx([0.8 * 1.026, 0.02 * 1.02])
    assert table["f1_worst"].tolist() == [0.989, 0.962]
    assert table["pareto"].tolist() == [True, True]
    assert (tmp_path / "front.png").read_bytes().startswith(PNG)


def test_a_run_cut_short_resumes_from_its_cells(fake_f1, fake_attacks, tmp_path):
    settings = {k: privacy_settings()[k] for k in F1}
    first = privacy_bench((200,), settings, attack=SMALL, cells=tmp_path / "cells")
    again = privacy_bench((200,), settings, attack=SMALL, cells=tmp_path / "cells")
    pd.testing.assert_frame_equal(first, again)
    assert again.attrs["attack_facts"] == first.attrs["attack_facts"]
    assert len(fake_f1) == 2 and len(fake_attacks) == 1  # nothing done twice
    (cell,) = [p for p in (tmp_path / "cells").glob("attack-*.json") if "balance" in p.read_text()]
    cell.unlink()  # as if the run had stopped before balance
    privacy_bench((200,), settings, attack=SMALL, cells=tmp_path / "cells")
    assert fake_attacks[-1] == (200, ["balance"])
    privacy_bench((210,), settings, attack=SMALL, cells=tmp_path / "cells")  # a new size
    assert fake_attacks[-1] == (210, ["none", "balance"])


def test_the_attack_table_refuses_more_records_than_the_people_give():
    # (the cut itself runs in the bench: its attrs give records_attacked == the size)
    with pytest.raises(ValueError, match="records"):
        privacy_table(300, settings={"none": {}}, records=400, overlap_records=0)
    with pytest.raises(ValueError, match="records"):
        privacy_table(300, settings={"none": {}}, records=5)


def test_figures_read_back_into_the_same_table_with_empty_cells_as_none():
    table = pd.DataFrame({"setting": ["a", "b"], "x@5": [0.5, np.nan], "pareto": [True, False]})
    table.attrs = {"sizes": [5], "settings_at": {5: ["a"]}}
    figures = privacy_figures(table)
    assert figures["rows"][1]["x@5"] is None and figures["sizes"] == [5]
    back = privacy_frame(figures)
    assert back["setting"].tolist() == ["a", "b"] and math.isnan(back["x@5"].iloc[1])
    assert back.attrs["settings_at"] == {"5": ["a"]}  # JSON keys are strings


def test_pareto_front_on_a_hand_made_table():
    reid = [0.80, 0.02, 0.02, 0.50, 0.01, 0.90, np.nan, 0.01]
    f1 = [0.99, 0.93, 0.95, 0.96, 0.90, 0.99, 1.00, 0.90]
    # 0 best F1 at 0.80; 2 beats 1 (same reid, higher F1); 3 is between 2 and 0;
    # 4 and 7 tie at the lowest reid; 5 is beaten by 0; 6 is missing a value
    expected = [True, False, True, True, True, False, False, True]
    assert pareto_front(reid, f1).tolist() == expected


def _hand_table():
    t = pd.DataFrame(
        {
            "setting": ["none", "v2", "hard"],
            "freq_given@5000": [0.82, 0.83, 0.01],
            "freq_family@5000": [0.78, 0.77, 0.02],
            "freq_given@200000": [0.80, np.nan, np.nan],
            "freq_family@200000": [0.79, np.nan, np.nan],
            "attr_sex@5000": [1.0, 0.1, 0.0],
            "attr_birth_year@5000": [1.0, 0.1, 0.0],
            "attr_place_of_birth@5000": [0.9, 0.1, 0.0],
            "graph_records@5000": [1.0, 1.0, 0.1],
            "graph_overlap_reidentified@5000": [0.2, 0.2, 0.0],
            "graph_known_reidentified@5000": [0.2, 0.2, 0.0],
            "f1_febrl4": [0.9998, 0.9996, 0.95],
            "f1_febrl3": [0.9993, 0.998, 0.94],
            "f1_synthetic": [0.989, 0.985, 0.92],
        }
    )
    t["reid_names"] = [0.82, 0.83, 0.02]
    t["f1_worst"] = t[["f1_febrl4", "f1_febrl3", "f1_synthetic"]].min(axis=1)
    t["pareto"] = pareto_front(t["reid_names"], t["f1_worst"])
    t.attrs = {"sizes": [5000, 200000]}
    return t


def test_plot_is_written_and_needs_its_columns(tmp_path):
    path = plot_pareto(_hand_table(), tmp_path / "sub" / "front.png")
    assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="reid_names"):
        plot_pareto(_hand_table().drop(columns="reid_names"), tmp_path / "x.png")


def test_compact_markdown_has_a_row_per_setting_and_dashes_where_not_measured():
    md = privacy_markdown(_hand_table()).splitlines()
    assert len(md) == 2 + 3
    assert "names at 200,000 (given / family)" in md[0]
    assert md[2].startswith("| none | 0.820 / 0.780 | 0.800 / 0.790 | 1.000 / 1.000 / 0.900 |")
    assert md[3].startswith("| v2 | 0.830 / 0.770 | – |")
    assert md[4].endswith("| 0.9500 / 0.9400 / 0.9200 | yes |")
    assert md[3].endswith(" |  |")  # v2: more names and a lower F1 than none
    no_sizes = _hand_table()
    no_sizes.attrs = {}
    with pytest.raises(ValueError, match="sizes"):
        privacy_markdown(no_sizes)


def test_report_carries_the_table_and_the_plot(tmp_path):
    from evaluation._report import _privacy_lines

    figures = privacy_figures(_hand_table())
    lines = _privacy_lines(figures, tmp_path)
    assert lines[0] == "## Privacy" and "\n| none | 0.820 / 0.780 |" in "\n".join(lines)
    assert (tmp_path / "privacy_pareto.png").read_bytes().startswith(PNG)
    assert "caselink bench --only privacy" in " ".join(_privacy_lines(None, tmp_path))


def test_settings_are_the_hardening_blocks_and_the_v2_proposals():
    settings = privacy_settings()
    assert set(HARDENING_SETTINGS) | set(MAIN_SETTINGS) <= set(settings)
    schemas = setting_schemas(settings)
    person, febrl = schemas["salt(birth year)"]
    assert person.hardening.salt_field == "birth_year"
    assert febrl.hardening.salt_field == "date_of_birth"  # febrl's own date field
    assert schemas["none"] == (bloom.Schema.load("person-v1"), bloom.Schema.load("febrl-v1"))
    folder = Path(bloom.__file__).resolve().parent / "schemas"
    by_path = (str(folder / "person-v2.json"), str(folder / "febrl.json"))
    pair = setting_schemas({"v2 by name": by_path})["v2 by name"]
    assert pair == schemas[V2]
    assert schemas[DEFAULT] == (bloom.Schema.load("person"), bloom.Schema.load("febrl"))
    assert schemas[DEFAULT][0].field("father_in_name").segment == "name"
    v3_person, v3_febrl = schemas[V3]
    assert v3_person.hardening.rekey_segments == ("name", "father")
    assert v3_febrl.hardening.rekey_segments == ("name",)
    recall, febrl_v1 = schemas[RECALL]  # person-recall builds on person-v1
    assert recall.field("given_name").normalise["fold"] == "romanisation"
    assert febrl_v1 == bloom.Schema.load("febrl-v1")


BAD = [
    ("sizes", lambda: privacy_bench(())),
    ("sizes", lambda: privacy_bench((50,))),
    ("sizes", lambda: privacy_bench((300, 300))),
    ("seed", lambda: privacy_bench((300,), seed=-1)),
    ("only_at", lambda: privacy_bench((300,), only_at={400: ("none",)})),
    ("only_at", lambda: privacy_bench((300,), only_at={300: ("nope",)})),
    ("attack", lambda: privacy_bench((300,), attack={"bogus": 1})),
    ("plot", lambda: privacy_bench((300,), plot=3)),
    ("settings", lambda: privacy_bench((300,), settings={})),
    (r"settings\['x'\]", lambda: privacy_bench((300,), settings={"x": ("person",)})),
    (r"settings\['x'\]", lambda: privacy_bench((300,), settings={"x": ("person", "nope")})),
    ("f1", lambda: pareto_front([0.1, 0.2], [0.9])),
    ("reid", lambda: pareto_front(["a"], [0.9])),
    ("figures", lambda: privacy_frame({"sizes": [5]})),
]


@pytest.mark.parametrize(("param", "call"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_parameters_raise_value_errors_naming_them(param, call):
    with pytest.raises(ValueError, match=param):
        call()
