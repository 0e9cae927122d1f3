"""Every error caselink raises on purpose: one tree, one shape, one HTTP status per class.

Each error carries ``problems``, a tuple of sentences a data officer or an operator can act
on: they name rows, columns, fields and parameters, never the value of an identifier, not
even a record ref, because an error ends up in a log and a log must never hold personal
data. A call with three faults gets one error naming all three. Each class also says how the
service answers it: ``http_status`` and ``code`` (the ``error`` of the JSON body
``{"error", "detail", "problems"}``); the three whose status depends on the call
(``ServiceError``, ``BatchRefusedError``, ``ClientError``) take it per instance.

The tree (the package that raises each class re-exports it, e.g. ``bloom.SchemaError``)::

    CaselinkError                 500 internal       base of the tree
    ├── InputError                422 invalid_request  bad input the caller can fix; a ValueError
    │   ├── SchemaError               the linkage schema is invalid                   (bloom)
    │   ├── EncodingError             a register cannot be encoded (rows, columns)    (bloom)
    │   ├── BatchError            422 invalid_batch  not a valid encoded batch        (bloom)
    │   ├── ExposureError             bad input to an exposure measurement            (bloom)
    │   ├── BlockingError             bad blocking parameters (``.parameters``)       (blocking)
    │   ├── LinkageError              bad input to a linkage function                 (linkage)
    │   ├── CaseIdError               not a well-formed caselink case id              (linkage)
    │   └── BackupError               a backup or restore cannot be done as asked     (service)
    ├── ConflictError             409 conflict       the request meets the state of the data
    │   ├── RegistryError             another schema's registry, an unknown case      (linkage)
    │   ├── RunConflictError          what a run read changed before it stored        (service)
    │   └── RunLeaseLostError         another replica took the run over               (service)
    ├── RunMemoryError            413 too_large      a run needs more than its budget (linkage)
    ├── UnavailableError          503 unavailable    try again shortly: nothing was done
    │   └── AuditUnavailableError     the audit entry could not be written            (service)
    ├── ConfigurationError        500 misconfigured  the operator's set-up is wrong or missing
    │   ├── SecretError               the shared secret is missing or malformed       (bloom)
    │   ├── DataKeyError              a data key for filters at rest is missing       (linkage)
    │   ├── AuditKeyError             the audit signing key is unusable               (service)
    │   └── UnsupportedDatabaseError  a database caselink cannot write to             (linkage)
    ├── DamagedDataError          500 damaged        stored data fails its own checks
    │   ├── SealedValueError          a sealed filter was altered or moved            (linkage)
    │   ├── JournalDamagedError       the audit journal was edited                    (service)
    │   └── CheckpointError           a kept audit checkpoint cannot be read          (service)
    ├── BuildProcessError         500 internal       the index-building process died (service)
    ├── ServiceError              per call           the API's own refusals (401, 403, 404, ...)
    ├── BatchRefusedError         per call           an upload or query batch refused (service)
    └── ClientError               per answer         the service refused a client's call (service)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "AuditKeyError",
    "AuditUnavailableError",
    "BackupError",
    "BatchError",
    "BatchRefusedError",
    "BlockingError",
    "BuildProcessError",
    "CaseIdError",
    "CaselinkError",
    "CheckpointError",
    "ClientError",
    "ConfigurationError",
    "ConflictError",
    "DamagedDataError",
    "DataKeyError",
    "EncodingError",
    "ExposureError",
    "InputError",
    "JournalDamagedError",
    "LinkageError",
    "RegistryError",
    "RunConflictError",
    "RunLeaseLostError",
    "RunMemoryError",
    "SchemaError",
    "SealedValueError",
    "SecretError",
    "ServiceError",
    "UnavailableError",
    "UnsupportedDatabaseError",
]


class CaselinkError(Exception):
    """Base of every error caselink raises on purpose; ``problems`` lists what is wrong.

    The message is the one problem (after ``headline: `` where the class has a headline), or
    the headline and the problems as a list.
    """

    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    headline: ClassVar[str | None] = None

    def __init__(self, problems: str | Sequence[str], *, headline: str | None = None) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        if not self.problems:
            raise TypeError(f"{type(self).__name__} needs at least one problem")
        head = headline or self.headline
        if len(self.problems) == 1:
            message = f"{head}: {self.problems[0]}" if head else self.problems[0]
        else:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{head or 'problems found'} ({len(self.problems)} problems):\n{listed}"
        super().__init__(message)

    def __reduce__(self):  # across processes (Ray tasks): as it was, not built again
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[CaselinkError], args: tuple, state: dict) -> CaselinkError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


# -- bad input ----------------------------------------------------------------------------
class InputError(CaselinkError, ValueError):
    """Bad input the caller can fix: a file, a parameter, a request."""

    http_status = 422
    code = "invalid_request"
    headline = "invalid input"


class SchemaError(InputError):
    """The linkage schema document is invalid."""

    headline = "invalid linkage schema"


class EncodingError(InputError):
    """The input register cannot be encoded as it is."""

    headline = "cannot encode the input"
    lists_rows: bool = False  # a problem lists rows (a problems file would list them all)


class BatchError(InputError):
    """An encoded batch file is not a valid caselink batch."""

    code = "invalid_batch"
    headline = "invalid encoded batch"


class ExposureError(InputError):
    """Bad input to an exposure measurement (filters, layout or parameters)."""

    headline = "cannot measure exposure"


class BlockingError(InputError):
    """Blocking parameters or inputs are invalid: ``parameters`` names each offending one
    (``parameter`` the first), ``problems`` says ``"<parameter>: <what is wrong>"``."""

    headline = "invalid blocking input"

    def __init__(self, problems: dict[str, str]) -> None:
        if not problems:
            raise TypeError("BlockingError needs at least one problem")
        self.parameters: tuple[str, ...] = tuple(problems)
        self.parameter: str = self.parameters[0]
        super().__init__([f"{name}: {what}" for name, what in problems.items()])


class LinkageError(InputError):
    """Bad input to a linkage function; each problem names the parameter or record."""

    headline = "invalid linkage input"


class CaseIdError(InputError):
    """A string that is not a well-formed caselink case id (its check character included)."""

    headline = None


class BackupError(InputError):
    """A backup or restore cannot be done as asked (no such file, not a caselink database,
    a broken audit chain in it)."""

    headline = None


# -- the state of the data --------------------------------------------------------------------
class ConflictError(CaselinkError):
    """The request meets the state of the data: it can be sent again once that changed."""

    http_status = 409
    code = "conflict"


class RegistryError(ConflictError):
    """The registry cannot take or answer this: records of another schema, an unknown case."""


class RunConflictError(ConflictError):
    """What a run read changed before it could store its result: nothing was stored."""


class RunLeaseLostError(ConflictError):
    """Another replica took this run over: this one stores nothing."""


class RunMemoryError(CaselinkError):
    """A linking run needs more memory than its budget (``CASELINK_RUN_MEMORY_GB``)."""

    http_status = 413
    code = "too_large"


class UnavailableError(CaselinkError):
    """Nothing was done; the same call may simply be sent again shortly."""

    http_status = 503
    code = "unavailable"


class AuditUnavailableError(UnavailableError):
    """The audit entry of an action could not be written, so the action was not done."""


# -- the operator's set-up --------------------------------------------------------------------
class ConfigurationError(CaselinkError):
    """The set-up is wrong or incomplete: a key, a secret, a database URL."""

    code = "misconfigured"


class SecretError(ConfigurationError):
    """The shared secret could not be read or has the wrong form."""


class DataKeyError(ConfigurationError):
    """A data key needed to open or seal filters at rest is missing or unusable."""


class AuditKeyError(ConfigurationError):
    """The key that signs the audit's checkpoints is missing, unreadable or not a key."""


class UnsupportedDatabaseError(ConfigurationError):
    """A database caselink cannot write its registry to (SQLite or PostgreSQL only)."""


# -- stored data that fails its checks -----------------------------------------------------
class DamagedDataError(CaselinkError):
    """Stored data fails its own integrity checks: it was altered, moved or cut short."""

    code = "damaged"


class SealedValueError(DamagedDataError):
    """A stored filter was altered, or moved to another record, since it was sealed."""


class JournalDamagedError(DamagedDataError):
    """The audit journal on disk was edited: nothing of it is folded into the chain."""


class CheckpointError(DamagedDataError):
    """A kept checkpoint file cannot be read, or a line of it is not a checkpoint."""


class BuildProcessError(CaselinkError):
    """The worker process died during an index build (the caller builds in its own thread)."""


# -- answers to calls -----------------------------------------------------------------------
class _AnsweredError(CaselinkError):
    """An error whose HTTP status and code belong to the call (given per instance)."""

    def __init__(self, status: int, error: str, detail: str, problems: Sequence[str] = ()) -> None:
        super().__init__(tuple(problems) or (detail,))
        self.http_status = status  # type: ignore[misc]  # per instance, by design
        self.code = error  # type: ignore[misc]
        self.status, self.error, self.detail = status, error, detail
        self.args = (detail,)

    def __str__(self) -> str:
        return self.detail


class ServiceError(_AnsweredError):
    """A refusal by the API with a stable code and an actionable message."""


class BatchRefusedError(_AnsweredError):
    """An upload or a query's batch cannot be accepted; ``status`` and ``problems`` say why."""

    def __init__(
        self, status: int, detail: str, problems: Sequence[str], error: str | None = None
    ) -> None:
        """``error`` defaults to the code of ``status`` (``invalid_batch`` for a 422); a batch
        encoded with another secret than its agreement's is a 422 ``wrong_secret``."""
        code = {413: "too_large", 409: "conflict", 403: "forbidden"}.get(status, "invalid_batch")
        super().__init__(status, error or code, detail, problems)


class ClientError(_AnsweredError):
    """The service refused a call; ``status``, ``error``, ``detail`` and ``problems`` say why."""

    def __str__(self) -> str:
        listed = "".join(f"\n  - {p}" for p in self.problems if p != self.detail)
        return f"{self.detail} (HTTP {self.status}, {self.error}){listed}"
