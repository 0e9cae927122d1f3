"""The full three-agency flow over a real server: encode, upload, run, read cases, audit.

The ``world`` fixture (conftest) has bootstrapped a steward with the CLI, created three
agencies with submitter keys and an agreement, uploaded each agency's encoded register and
run the linkage on the server's Ray. These tests read what each agency gets back.
"""

from __future__ import annotations

import csv
import itertools

import pytest

import linkage
from service._tables import audit_entries
from service.client import ClientError
from tests.service import loopback
from tests.service.servers import AGENCIES, encode_file


def _refs(world, agency: str) -> set[str]:
    return set(world.uploaded[agency]["record_ref"])


@pytest.mark.parametrize("agency", AGENCIES)
def test_each_agency_reads_exactly_its_own_records(world, agency):
    rows = world.first_cases[agency]
    assert len(rows) == len(world.uploaded[agency])
    assert {r["record_ref"] for r in rows} == _refs(world, agency)
    assert len({r["record_ref"] for r in rows}) == len(rows)
    others = (set(AGENCIES) | {world.service.steward_agency}) - {agency}
    for r in rows:
        assert set(r) == {"record_ref", "case_id", "confidence", "other_agencies"}
        assert linkage.is_valid_case_id(r["case_id"]), r["case_id"]
        assert 0.0 <= r["confidence"] <= 1.0
        assert set(r["other_agencies"]) <= others
        assert r["other_agencies"] == sorted(set(r["other_agencies"]))
        assert world.service.steward_agency not in r["other_agencies"]  # it uploaded nothing


@pytest.mark.parametrize("agency", AGENCIES)
def test_pages_and_csv_agree(world, agency):
    with world.client(agency) as c:
        first = c.cases(world.agreement_id, offset=0, limit=50)
        assert first["total"] == len(world.uploaded[agency])
        assert first["offset"] == 0 and first["limit"] == 50 and first["next_offset"] == 50
        assert first["pending_records"] == 0
        assert len(first["items"]) == 50
        last = c.cases(world.agreement_id, offset=first["total"] - 3, limit=50)
        assert len(last["items"]) == 3 and last["next_offset"] is None
        path = c.cases_csv(world.agreement_id, world.workdir / f"{agency}-cases.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["record_ref", "case_id", "confidence", "other_agencies"]
        from_csv = {r["record_ref"]: r for r in reader}
    paged = world.first_cases[agency]
    assert first["items"] == paged[:50]
    assert set(from_csv) == _refs(world, agency)
    for r in paged:
        row = from_csv[r["record_ref"]]
        assert row["case_id"] == r["case_id"]
        assert float(row["confidence"]) == pytest.approx(r["confidence"])
        assert row["other_agencies"] == ";".join(r["other_agencies"])


def test_planted_people_share_one_case_across_the_three_agencies(world):
    by_ref = {(a, r["record_ref"]): r for a in AGENCIES for r in world.first_cases[a]}
    case_ids = set()
    for _, group in world.planted.groupby("person"):
        rows = [by_ref[(g.agency, g.record_ref)] for g in group.itertuples()]
        assert len({r["case_id"] for r in rows}) == 1, rows
        case_ids.add(rows[0]["case_id"])
        for g, r in zip(group.itertuples(), rows, strict=True):
            assert r["other_agencies"] == sorted(set(AGENCIES) - {g.agency})
            assert r["confidence"] > 0.5
    assert len(case_ids) == len(world.planted["person"].unique())  # three people, three cases


def _pairs(world):
    truth = world.data.truth.set_index(["agency", "record_ref"])["entity_id"]
    rows = [
        (a, r["record_ref"], r["case_id"])
        for a in AGENCIES
        for r in world.first_cases[a]
        if not r["record_ref"].startswith("P")
    ]
    true_pairs = same_case = both = 0
    for (a1, r1, c1), (a2, r2, c2) in itertools.combinations(rows, 2):
        if a1 == a2:
            continue
        is_true = truth[(a1, r1)] == truth[(a2, r2)]
        true_pairs += is_true
        same_case += c1 == c2
        both += is_true and c1 == c2
    return true_pairs, same_case, both


def test_most_true_matches_share_a_case_id(world):
    true_pairs, same_case, both = _pairs(world)
    assert true_pairs > 100
    assert both / true_pairs > 0.8, (true_pairs, same_case, both)  # recall
    assert both / same_case > 0.9, (true_pairs, same_case, both)  # precision


def test_audit_chains_verify(world):
    with world.service.client() as steward, world.service.admin() as admin:
        agreement = steward.verify_audit(world.agreement_id)
        service_chain = admin.verify_audit()
        entries = steward.audit(world.agreement_id)["items"]
    assert agreement["ok"] and agreement["problems"] == [] and agreement["entries"] > 0
    assert service_chain["ok"] and service_chain["problems"] == []
    actions = [e["action"] for e in entries]
    assert actions[0] == "agreement.create"
    assert actions.count("batch.upload") >= 3
    assert {"run.start", "run.finish", "cases.read"} <= set(actions)
    uploads = [e for e in entries if e["action"] == "batch.upload" and e["outcome"] == "ok"]
    assert {e["actor"] for e in uploads} == set(AGENCIES)
    assert all(e["role"] == "submitter" and e["purpose"] == "linkage" for e in uploads)


def test_no_record_ref_or_key_in_audit_or_logs(world):
    with world.service.db.engine.connect() as conn:
        audit_text = "\n".join(str(tuple(r)) for r in conn.execute(audit_entries.select()))
    logs = world.service.server.all_stderr()
    secrets_ = [
        *world.keys.values(),
        *world.outsider_keys.values(),
        world.service.steward_key,
        world.service.admin_key,
    ]
    refs = [r for a in AGENCIES for r in world.uploaded[a]["record_ref"]]
    for text in (audit_text, logs):
        assert not [k for k in secrets_ if k in text]
        assert not [r for r in refs if r in text]


def test_cli_verify_audit_exits_0(world):
    """``caselink admin verify-audit``, started as soon as the first run was read back."""
    returncode, stdout, stderr = world.verify_audit_cli()
    assert returncode == 0, stdout + stderr
    assert world.agreement_id in stdout and "(service)" in stdout


def test_incremental_run_keeps_case_ids_and_joins_new_records(world, person_schema, secret):
    """Second round: new records join existing cases; nobody's case id changes."""
    agreement_id = world.agreement_id
    before = {(a, r["record_ref"]): r["case_id"] for a in AGENCIES for r in world.first_cases[a]}
    for agency in AGENCIES:
        path = encode_file(
            world.held_back[agency],
            person_schema,
            secret,
            agency,
            world.workdir / f"{agency}-round2.parquet",
        )
        with world.client(agency) as c:
            stored = c.upload(agreement_id, path)
            assert stored["duplicate"] is False
            assert c.cases(agreement_id, limit=1)["pending_records"] == len(world.held_back[agency])
    with world.client("agency-b") as c:
        run = c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"], timeout=120, poll=0.2)
    assert run["status"] == "succeeded", run
    assert run["stats"]["new_records"] == sum(len(h) for h in world.held_back.values())
    after = {}
    for agency in AGENCIES:
        with world.client(agency) as c:
            rows = list(c.iter_cases(agreement_id))
        assert {r["record_ref"] for r in rows} == _refs(world, agency) | set(
            world.held_back[agency]["record_ref"]
        )
        after.update({(agency, r["record_ref"]): r["case_id"] for r in rows})
    changed = [k for k, cid in before.items() if after[k] != cid]
    assert not changed, changed[:5]

    # held-back records of people already registered by another agency join that case
    truth = world.data.truth.set_index(["agency", "record_ref"])["entity_id"]
    first_round = {}
    for (agency, ref), cid in before.items():
        if not ref.startswith("P"):
            first_round.setdefault(truth[(agency, ref)], set()).add(cid)
    joined = known = 0
    for agency in AGENCIES:
        for ref in world.held_back[agency]["record_ref"]:
            person = truth[(agency, ref)]
            if person in first_round:
                known += 1
                joined += after[(agency, ref)] in first_round[person]
    assert known >= 10
    assert joined / known > 0.7, (joined, known)


def test_the_run_ran_on_the_servers_ray(world):
    logs = world.service.server.all_stderr()
    assert "Ray started locally" in logs
    assert world.first_run["stage"] == "done" and world.first_run["progress"] == 1.0
    assert world.first_run["stats"]["pairs_scored"] > 0


def test_evaluators_see_aggregates_only(world):
    with world.service.client(world.role_keys["evaluator"]) as evaluator:
        summary = evaluator.summary(world.agreement_id)
    counts = summary["records_by_agency"]
    assert set(counts) <= set(AGENCIES)
    assert all(counts[a] >= len(world.uploaded[a]) for a in AGENCIES)
    assert summary["cases_across_agencies"] >= len(world.planted["person"].unique())
    assert sum(b["records"] for b in summary["confidence_histogram"]) == sum(counts.values())
    text = str(summary)
    assert not [r for a in AGENCIES for r in world.uploaded[a]["record_ref"] if r in text]
    assert not [r for a in AGENCIES for r in world.first_cases[a] if r["case_id"] in text]


@pytest.mark.parametrize(
    ("params", "named"),
    [({"limit": 0}, "limit"), ({"offset": -1}, "offset"), ({"format": "xml"}, "format")],
)
def test_bad_page_parameters_are_named(world, params, named):
    with loopback.client(base_url=world.service.url) as http:
        r = http.get(
            f"/v1/agreements/{world.agreement_id}/cases",
            params=params,
            headers={"Authorization": f"Bearer {world.keys['agency-a']}"},
        )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert any(p.startswith(named) for p in body["problems"]), body


def test_a_purpose_outside_the_agreement_is_refused(world):
    with (
        world.service.client(world.keys["agency-a"], purpose="marketing") as c,
        pytest.raises(ClientError) as info,
    ):
        c.cases(world.agreement_id)
    assert info.value.status == 403 and "marketing" in info.value.detail
    with world.service.client(world.keys["agency-a"], purpose="tracing") as c:
        assert c.cases(world.agreement_id, limit=1)["total"] > 0
