"""`caselink agreement list | show | amend` and `caselink summary`, through a running service.

::

    caselink agreement list [--json]                  # the agreements your key is in
    caselink agreement show agr_... [--json]
    caselink agreement amend agr_... --add-party unicef --remove-party old-partner \\
        --add-auditor dpo-office --purpose linkage --purpose tracing --retention-days 180
    caselink agreement amend agr_... --purpose-scope tracing=tracing  # consent it needs
    caselink summary --agreement agr_... [--json]     # figures: no record, no ref

An amendment is a steward's, audited in the agreement's chain with each change before and
after; ``--purpose``, given, replaces the list, and ``--purpose-scope`` the consent scope
each purpose needs (a call with a mapped purpose is answered only from records whose consent
covers the scope). An agency named with ``--add-auditor`` lets its
``auditor`` keys list and show the agreement and read, verify and checkpoint its audit
(``caselink audit show|verify|checkpoint --agreement``); nothing else. A party that still
holds records cannot be removed (the service says to withdraw or purge them first); a shorter
retention period takes effect at the next retention sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from caselink_output import JSON, print_json
from service.cli_client import AGREEMENT, CA, EVALUATION_PURPOSE, KEY, URL, agreement_app, client

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)
AGREEMENT_ID = typer.Argument(..., help="Agreement id (agr_...).")
FIELDS = ("parties", "auditors", "purposes", "retention_days", "purpose_scopes")


def _fields(a: dict[str, Any]) -> dict[str, Any]:
    """The amendable fields of an agreement as shown (the review band is a linkage setting)."""
    return {f: a[f] for f in FIELDS} | {"review_band": a["linkage"].get("review_band")}


def _band(band: list[float] | None) -> str:
    return "none (no review queue)" if band is None else f"{band[0]:g} to {band[1]:g}"


def _shown(value: Any) -> str:
    if isinstance(value, dict):  # purpose -> consent scope
        return ", ".join(f"{p}={s}" for p, s in sorted(value.items()))
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def purpose_scopes(pairs: list[str] | None, option: str = "--purpose-scope") -> dict[str, str]:
    """``PURPOSE=SCOPE`` pairs as a map; a malformed or repeated purpose is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        purpose, sep, scope = pair.partition("=")
        if not sep or not purpose.strip() or not scope.strip():
            raise typer.BadParameter(
                "write each as PURPOSE=SCOPE (tracing=tracing)", param_hint=option
            )
        if purpose.strip() in out:
            raise typer.BadParameter(f"purpose {purpose.strip()} given twice", param_hint=option)
        out[purpose.strip()] = scope.strip()
    return out


PURPOSE_SCOPE_HELP = (
    "PURPOSE=SCOPE: a call with this purpose is answered only from records whose consent "
    "covers SCOPE (repeat for each purpose)."
)


def list_agreements(
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """The agreements your agency is a party to (for an auditor key: those its agency is
    named on as auditor), oldest first; "access" says which."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        found = c.list_agreements()
    if as_json:
        print_json(found)
        return
    table = Table(
        "agreement",
        "name",
        "access",
        "parties",
        "auditors",
        "purposes",
        "consent scopes",
        "retention (days)",
        "created",
    )
    for a in found:
        table.add_row(
            a["agreement_id"],
            a["name"],
            a["access"],
            _shown(a["parties"]),
            _shown(a["auditors"]) or "-",
            _shown(a["purposes"]),
            _shown(a["purpose_scopes"]) or "-",
            str(a["retention_days"]),
            a["created_at"],
        )
    Console().print(table)


def show(
    agreement_id: str = AGREEMENT_ID,
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """One agreement: parties, auditors, purposes, schema, layout, linkage settings, retention
    (parties, and the auditor keys of its auditors)."""
    with client(url, api_key_file, ca_file=ca_file) as c:
        a = c.agreement(agreement_id)
    if as_json:
        print_json(a)
        return
    table = Table("field", "value", show_header=False, title=a["agreement_id"])
    layout = a["segments"] or []
    for key, value in (
        ("name", a["name"]),
        ("parties", _shown(a["parties"])),
        ("auditors", _shown(a["auditors"]) or "-"),
        ("your access", a["access"]),
        ("purposes", _shown(a["purposes"])),
        ("consent scope of each purpose", _shown(a["purpose_scopes"]) or "none needed"),
        ("retention", f"{a['retention_days']} days after a batch arrives"),
        ("schema fingerprint", a["schema_fingerprint"]),
        ("filter bits", str(a["filter_bits"])),
        ("segments", ", ".join(f"{s['name']} {s['bits']}" for s in layout) or "-"),
        ("threshold", str(a["linkage"]["threshold"])),
        ("duplicates within an agency", str(a["linkage"]["allow_duplicates_within_agency"])),
        ("review band", _band(a["linkage"].get("review_band"))),
        ("created", f"{a['created_at']} by {a['created_by']}"),
    ):
        table.add_row(key, value)
    Console().print(table)


def amend(
    agreement_id: str = AGREEMENT_ID,
    add_party: list[str] | None = typer.Option(
        None, "--add-party", help="An agency to make a party (repeat for each)."
    ),
    remove_party: list[str] | None = typer.Option(
        None,
        "--remove-party",
        help="A party to remove (repeat); it must hold no stored record: withdraw or purge first.",
    ),
    add_auditor: list[str] | None = typer.Option(
        None,
        "--add-auditor",
        help="An agency to name as auditor (repeat): its auditor keys read the agreement and "
        "its audit from now on.",
    ),
    remove_auditor: list[str] | None = typer.Option(
        None,
        "--remove-auditor",
        help="An auditor to un-name (repeat): its auditor keys are refused from now on.",
    ),
    purpose: list[str] | None = typer.Option(
        None,
        "--purpose",
        help="An allowed purpose from now on (repeat for each): replaces the whole list.",
    ),
    retention_days: int | None = typer.Option(
        None,
        "--retention-days",
        min=1,
        help="Days a batch is kept after it arrives; a shorter period purges at the next sweep.",
    ),
    purpose_scope: list[str] | None = typer.Option(
        None, "--purpose-scope", help=PURPOSE_SCOPE_HELP + " Replaces the whole map."
    ),
    no_purpose_scopes: bool = typer.Option(
        False, "--no-purpose-scopes", help="No purpose needs a consent scope from now on."
    ),
    review_band: str | None = typer.Option(
        None,
        "--review-band",
        help="Probabilities LOW,HIGH queued for clerical review from the next run on, or none.",
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Amend an agreement's parties, auditors, purposes, retention, review band or the
    consent scope each purpose needs (stewards of a party); audited."""
    from service.cli_review import parse_band

    named = (add_party, remove_party, add_auditor, remove_auditor, purpose, purpose_scope)
    given = retention_days is not None or review_band is not None or no_purpose_scopes
    if not (any(named) or given):
        raise typer.BadParameter(
            "give at least one of --add-party, --remove-party, --add-auditor, "
            "--remove-auditor, --purpose, --retention-days, --review-band, --purpose-scope, "
            "--no-purpose-scopes"
        )
    if purpose_scope and no_purpose_scopes:
        raise typer.BadParameter("give --purpose-scope or --no-purpose-scopes, not both")
    scopes = {} if no_purpose_scopes else (purpose_scopes(purpose_scope) or None)
    band = ... if review_band is None else parse_band(review_band)
    with client(url, api_key_file, ca_file=ca_file) as c:
        before = c.agreement(agreement_id)
        after = c.amend_agreement(
            agreement_id,
            add_parties=add_party or (),
            remove_parties=remove_party or (),
            purposes=purpose or None,
            retention_days=retention_days,
            add_auditors=add_auditor or (),
            remove_auditors=remove_auditor or (),
            purpose_scopes=scopes,
            review_band=band,
        )
    if as_json:
        print_json(after)
        return
    old, new = _fields(before), _fields(after)
    changed = [f for f in old if old[f] != new[f]]
    for field in changed:
        console.print(f"{field}: {_shown(old[field]) or '-'} -> {_shown(new[field]) or '-'}")
    if not changed:
        console.print("nothing changed: the agreement had these settings already")
    if "retention_days" in changed and after["retention_days"] < before["retention_days"]:
        console.print("batches past the new retention period go at the next retention sweep")


def summary(
    agreement: str = AGREEMENT,
    purpose: str | None = EVALUATION_PURPOSE,
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """An agreement's figures (evaluators, stewards): records, cases, confidence; no records."""
    with client(url, api_key_file, purpose=purpose, ca_file=ca_file) as c:
        s = c.summary(agreement)
    if as_json:
        print_json(s)
        return
    out = Console()
    figures = Table("figure", "value", show_header=False, title=s["agreement_id"])
    for agency, n in sorted(s["records_by_agency"].items()):
        figures.add_row(f"records of {agency}", f"{n:,}")
    for key, label in (
        ("pending_records", "records not linked yet"),
        ("cases", "cases"),
        ("cases_across_agencies", "cases across agencies"),
        ("records_in_shared_cases", "records in cases across agencies"),
        ("runs_succeeded", "runs succeeded"),
    ):
        figures.add_row(label, f"{s[key]:,}")
    figures.add_row("last run finished", s["last_run_finished_at"] or "-")
    out.print(figures)
    bins = Table("confidence", "records", title="records by confidence")
    for b in s["confidence_histogram"]:
        bins.add_row(f"{b['low']:.1f}-{b['high']:.1f}", f"{b['records']:,}")
    out.print(bins)


def register(app: typer.Typer) -> None:
    agreement_app.command("list")(list_agreements)
    agreement_app.command("show")(show)
    agreement_app.command("amend")(amend)
    app.command("summary")(summary)
