"""The service's data access, one module per resource, each returning typed rows.

Routes hold no SQL: they call these functions on the connection of the transaction that
audits the call, and get frozen dataclasses back (never SQLAlchemy rows):

* :mod:`~service.repositories.agencies` — agencies and their API keys (:class:`AgencyRow`,
  :class:`KeyRow`), and the keys within a caller's reach;
* :mod:`~service.repositories.agreements` — agreements (:class:`AgreementRow`), their parties
  and creator;
* :mod:`~service.repositories.batches` — an agency's batches (:class:`BatchRow`) and the
  records still waiting for a run;
* :mod:`~service.repositories.runs` — runs (:class:`RunRow`), the active one, the succeeded
  ones;
* :mod:`~service.repositories.audit` — a page of an audit chain.

The linked data itself (cases, records, figures) is read through :class:`linkage.Registry`.
"""

from service.repositories._rows import typed
from service.repositories.agencies import AgencyRow, KeyRow
from service.repositories.agreements import AgreementRow
from service.repositories.batches import BatchRow
from service.repositories.runs import RunRow

__all__ = ["AgencyRow", "AgreementRow", "BatchRow", "KeyRow", "RunRow", "typed"]
