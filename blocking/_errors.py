"""The one error blocking raises on purpose.

``BlockingError`` joins the project tree under :class:`bloom.CaselinkError` and is also a
``ValueError``, since every cause is a bad argument::

    CaselinkError
    └── BlockingError   blocking parameters or input arrays are invalid (names each one)

Validation collects every problem and raises once, so a call with three bad arguments gets
one error naming all three.
"""

from __future__ import annotations

from collections.abc import Mapping

from bloom import CaselinkError

__all__ = ["BlockingError", "raise_problems"]


class BlockingError(CaselinkError, ValueError):
    """Blocking parameters or inputs are invalid.

    ``problems`` maps each offending parameter name to what is wrong with it;
    ``parameter`` is the first of them.
    """

    def __init__(self, problems: Mapping[str, str]) -> None:
        if not problems:
            raise TypeError("BlockingError needs at least one problem")
        self.problems: dict[str, str] = dict(problems)
        self.parameter: str = next(iter(self.problems))
        listed = "; ".join(f"{name}: {what}" for name, what in self.problems.items())
        super().__init__(f"invalid blocking input: {listed}")


def raise_problems(problems: Mapping[str, str]) -> None:
    """Raise one :class:`BlockingError` listing ``problems``, if there are any."""
    if problems:
        raise BlockingError(problems)
