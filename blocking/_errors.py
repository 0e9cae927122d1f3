"""How blocking reports bad input: one :class:`BlockingError` naming every bad parameter.

``BlockingError`` is defined with the project's whole error tree in :mod:`caselink_errors`
(an ``InputError``, so also a ``ValueError``); validation collects every problem and raises
once, so a call with three bad arguments gets one error naming all three.
"""

from __future__ import annotations

from collections.abc import Mapping

from caselink_errors import BlockingError

__all__ = ["BlockingError", "raise_problems"]


def raise_problems(problems: Mapping[str, str]) -> None:
    """Raise one :class:`BlockingError` listing ``problems``, if there are any."""
    if problems:
        raise BlockingError(dict(problems))
