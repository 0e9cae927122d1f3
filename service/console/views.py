"""The data the console's pages show, as frozen dataclasses: one import for the page handlers.

Computed from the database through :mod:`service.repositories` and the API's own functions;
every function that shows linked data or the audit takes the session's
:class:`~service.api.deps.Principal`, checks it with the API's gate
(:func:`service.api.access.open_agreement`) and audits the reading as the matching API call
does. They raise :class:`~service.api.errors.ServiceError` (403, 404, 409, 422) as the API
answers.

- public: :func:`transparency` (no principal; small cells suppressed, see
  :mod:`service._transparency`) and a steward's :func:`transparency_preview`; publishing
  through ``POST/DELETE /v1/agreements/{id}/publication`` (the route functions
  :func:`~service.api.routes.publication.publish_transparency` and
  :func:`~service.api.routes.publication.unpublish_transparency`);
- the audit log: :func:`audit_log`, :func:`audit_csv`, :func:`verify_audit`
  (:mod:`service.console.views_audit`);
- :func:`retention_timers`, :func:`withdrawal_receipts`, :func:`linkage_quality`,
  :func:`transparency_preview` (:mod:`service.console.views_steward`).

Charts of these figures: :mod:`service.console.charts`.
"""

from service._transparency import (
    KINDS,
    AccessCell,
    Count,
    LastVerification,
    MonthFigures,
    Transparency,
    transparency,
)
from service.console.views_audit import (
    AuditExport,
    AuditLogPage,
    AuditRow,
    audit_csv,
    audit_log,
    verify_audit,
)
from service.console.views_steward import (
    AgencyPair,
    ConfidenceBar,
    LinkageQuality,
    RetentionTimer,
    RetentionView,
    WithdrawalReceiptRow,
    WithdrawalsPage,
    linkage_quality,
    retention_timers,
    transparency_preview,
    withdrawal_receipts,
)
from service.repositories.audit import REFUSED, AuditFilter
from service.repositories.transparency import VerificationRow

__all__ = [
    "KINDS",
    "REFUSED",
    "AccessCell",
    "AgencyPair",
    "AuditExport",
    "AuditFilter",
    "AuditLogPage",
    "AuditRow",
    "ConfidenceBar",
    "Count",
    "LastVerification",
    "LinkageQuality",
    "MonthFigures",
    "RetentionTimer",
    "RetentionView",
    "Transparency",
    "VerificationRow",
    "WithdrawalReceiptRow",
    "WithdrawalsPage",
    "audit_csv",
    "audit_log",
    "linkage_quality",
    "retention_timers",
    "transparency",
    "transparency_preview",
    "verify_audit",
    "withdrawal_receipts",
]
