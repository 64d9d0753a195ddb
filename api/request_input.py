"""Every request's input is checked once, where it is decoded, before any handler or SQL sees it.

Two kinds of input pass a type check and still fail further in: a JSON (or MessagePack) body
nested deeper than the decoder's recursion limit (msgspec raises `RecursionError`, not a decode
error), and strings PostgreSQL cannot store (a NUL byte; a lone UTF-16 surrogate, which cannot be
encoded as UTF-8). Both become a 400 problem here, naming the field, and never echo its value.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException, ValidationException

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""Characters no PostgreSQL text column accepts (NUL) or that UTF-8 cannot encode (lone surrogates)."""
NESTED_TOO_DEEPLY = "The request body is nested too deeply to be read."
UNSTORABLE_MESSAGE = "Contains a NUL byte or an unpaired surrogate, which cannot be stored."


def unstorable_fields(value: Any, root: str = "") -> list[str]:
    """Where in `value` (a decoded body, or one parameter) a key or a string holds an unstorable
    character, as dotted paths (`targets.0`). Iterative: bodies can be as deep as the decoder allows."""
    found: list[str] = []
    pending: list[tuple[str, Any]] = [(root, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                found.append(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                key_text = str(key)
                child_path = f"{path}.{key_text}" if path else key_text
                if UNSTORABLE.search(key_text):
                    found.append(path or "(body)")
                    continue
                pending.append((child_path, child))
        elif isinstance(item, (list, tuple)):
            pending.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))
    return sorted(found)


class UnstorableInput(ValidationException):
    """A 400 problem with its own `code`: the input has the right shape, one of its strings cannot be stored."""

    code = "unstorable-text"


def reject_unstorable(fields: list[str], source: str) -> None:
    """Raise the 400 (`errors` names each field, its `source`; the value is never repeated)."""
    if fields:
        errors = [{"key": field or "(body)", "source": source, "message": UNSTORABLE_MESSAGE} for field in fields]
        raise UnstorableInput(detail=f"Invalid characters in the request {source}.", extra=errors)


class CheckedRequest(Request[Any, Any, Any]):
    """The app's request class: bodies decode to a 400 problem, or to values PostgreSQL can store."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError as exc:
            raise ClientException(NESTED_TOO_DEEPLY) from exc
        reject_unstorable(unstorable_fields(value), "body")
        return value

    async def msgpack(self) -> Any:
        try:
            value = await super().msgpack()
        except RecursionError as exc:
            raise ClientException(NESTED_TOO_DEEPLY) from exc
        reject_unstorable(unstorable_fields(value), "body")
        return value

    async def form(self) -> FormMultiDict:
        form = await super().form()
        fields = [key for key, value in form.multi_items() if isinstance(value, str) and UNSTORABLE.search(value)]
        fields += [key for key in form if UNSTORABLE.search(key)]
        reject_unstorable(sorted(set(fields)), "body")
        return form


async def reject_unstorable_parameters(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: query and path parameters with unstorable characters are a 400
    before the handler (and its SQL) runs."""
    query = [key for key, value in request.query_params.multi_items() if UNSTORABLE.search(f"{key}{value}")]
    reject_unstorable(sorted(set(query)), "query")
    path = [key for key, value in request.path_params.items() if isinstance(value, str) and UNSTORABLE.search(value)]
    reject_unstorable(path, "path")
