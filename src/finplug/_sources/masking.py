"""Values resolved from secret references, and masking them wherever they would show."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

__all__ = ["MASK", "ResolvedSecret", "mask_secrets", "redact"]

MASK = "**********"
"""What a secret is shown as (the same mask as :class:`pydantic.SecretStr`)."""

_PREFIX_CHARS = 8
"""A message holding this many leading characters of a secret (a cut value) is masked too."""


class ResolvedSecret(str):
    """A string that came from a ``${VAR}`` or ``${file:PATH}`` reference.

    :func:`resolve_references` wraps every value it resolves in this type, so
    that :func:`redact` can mask it and a settings field typed
    :data:`finplug.types.Credential` can tell it from a literal written in the
    file. It is an ordinary ``str`` otherwise, except that its ``repr`` is the
    mask: a resolved value logged by mistake does not show. Pydantic turns it
    into a plain ``str`` when it validates a ``str`` field.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def redact(value: Any) -> Any:
    """A copy of ``value`` (plain data) with every :class:`ResolvedSecret` replaced by :data:`MASK`.

    Mappings and lists are copied; other values are returned as they are.
    """
    if isinstance(value, ResolvedSecret):
        return MASK
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _secret_forms(secret: str) -> set[str]:
    """The ways a message may spell ``secret``: as is, escaped by ``repr`` and by JSON."""
    return {secret, repr(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


def mask_secrets(message: str, secrets: Collection[str]) -> str:
    """``message`` with every occurrence of each of ``secrets`` replaced by :data:`MASK`.

    Also masks a secret as ``repr`` or JSON escape it and, once every whole
    secret is masked, a run of at least eight leading characters of a longer
    one (an error message that cuts long values shows only their start). A
    secret shorter than eight characters is masked only where it is not part
    of a longer word (``ok`` does not mask ``hook``). Blank secrets are
    ignored.
    """
    forms = sorted(
        {form for secret in secrets if secret.strip() for form in _secret_forms(secret)},
        key=len,
        reverse=True,
    )
    for form in forms:
        if len(form) < _PREFIX_CHARS:
            pattern = rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])"
            message = re.sub(pattern, MASK, message)
        else:
            message = message.replace(form, MASK)
    for form in forms:
        if len(form) > _PREFIX_CHARS:
            message = _mask_prefixes(message, form)
    return message


def _mask_prefixes(message: str, form: str) -> str:
    """Mask each run in ``message`` of at least ``_PREFIX_CHARS`` leading characters of ``form``."""
    head = form[:_PREFIX_CHARS]
    found = message.find(head)
    if found < 0:
        return message
    out: list[str] = []
    at = 0
    while found >= 0:
        end = found + _PREFIX_CHARS
        stop = min(len(message), found + len(form))
        while end < stop and message[end] == form[end - found]:
            end += 1
        out.append(message[at:found])
        out.append(MASK)
        at = end
        found = message.find(head, at)
    out.append(message[at:])
    return "".join(out)
