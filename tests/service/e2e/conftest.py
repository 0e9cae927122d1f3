"""The fleet of real servers these end-to-end tests share (defined in tests/service/servers.py):
``fleet`` (one ``caselink serve`` per backend), ``service`` (one per backend, with an admin and
a steward key) and ``world`` (a three-agency agreement whose first run has succeeded), each
package-scoped: stopped once this folder's tests are done."""

from tests.service.servers import fleet, service, world  # noqa: F401
