"""`POST /batch/drive/v3`: multipart/mixed in, multipart/mixed out, one part per inner call.

Each inner request carries its own Authorization header and runs through `about_call`, so
parts fail alone (401 for one user, 429 for another) and count like direct calls.
Parts past the limit (100) fail one by one by default, as Google does; see README.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32
from urllib.parse import parse_qsl, urlsplit

from litestar import Request, Response, post

from .drive import about_call
from .errors import ApiResult, api_error, fault_api_result, json_result
from .state import EmulatorState
from .web import apply_faults, base_url, state_of, to_response

_LINE = re.compile(r"\r?\n")


@dataclass
class InnerRequest:
    content_id: str | None
    method: str = ""
    target: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def parse_batch(body: bytes, content_type: str) -> list[InnerRequest]:
    """Split a multipart/mixed body into inner HTTP requests (LF or CRLF line ends)."""
    if not content_type.lower().startswith("multipart/") or "boundary" not in content_type.lower():
        raise ValueError("Content-Type must be multipart/mixed with a boundary")
    message = BytesParser(policy=compat32).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("body is not multipart")
    parts: list[InnerRequest] = []
    for part in message.get_payload():
        content_id = part.get("Content-ID")
        inner = InnerRequest(content_id.strip() if content_id else None)
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        lines = _LINE.split(text.lstrip("\r\n"))
        request_line = lines[0].split() if lines else []
        if len(request_line) < 2:
            inner.error = "Failed to parse the inner request line"
            parts.append(inner)
            continue
        inner.method, inner.target = request_line[0].upper(), request_line[1]
        for line in lines[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            inner.headers[name.strip().lower()] = value.strip()
        parts.append(inner)
    return parts


def _response_content_id(content_id: str | None) -> str | None:
    if content_id is None:
        return None
    inner = content_id[1:-1] if content_id.startswith("<") and content_id.endswith(">") else content_id
    return f"<response-{inner}>"


def serialize_batch(results: list[tuple[str | None, ApiResult]]) -> tuple[bytes, str]:
    boundary = "batch_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
    out: list[bytes] = []
    for content_id, result in results:
        head = ["Content-Type: application/http"]
        response_id = _response_content_id(content_id)
        if response_id is not None:
            head.append(f"Content-ID: {response_id}")
        inner_head = [f"HTTP/1.1 {result.status} {result.reason}"]
        inner_head += [f"{name}: {value}" for name, value in result.headers]
        inner_head.append(f"Content-Length: {len(result.body)}")
        out.append(
            f"--{boundary}\r\n".encode()
            + "\r\n".join(head).encode()
            + b"\r\n\r\n"
            + "\r\n".join(inner_head).encode()
            + b"\r\n\r\n"
            + result.body
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/mixed; boundary={boundary}"


def _overflow_part(limit: int) -> ApiResult:
    message = "Exceeds allowed inner batch requests soft limit. Please retry."
    body = api_error(403, message, "forbidden")
    body["error"]["message"] = f"{message} At most {limit} calls are allowed in a single batch request."
    return json_result(403, body)


async def _run_part(state: EmulatorState, inner: InnerRequest, index: int, base: str, at: float) -> ApiResult:
    limit = state.config.batch_max_parts
    if index >= limit:
        return _overflow_part(limit)
    if inner.error is not None:
        return json_result(400, api_error(400, inner.error, "badRequest"))
    url = urlsplit(inner.target)
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    if url.path.rstrip("/") == "/drive/v3/about":
        if inner.method != "GET":
            return json_result(405, api_error(405, "Method Not Allowed", "httpMethodNotAllowed"))
        return await about_call(state, inner.headers.get("authorization"), params, base, at)
    return json_result(404, api_error(404, "Method not found.", "notFound"))


@post("/batch/drive/v3")
async def batch(request: Request) -> Response[bytes]:
    state = state_of(request)
    arrived = state.now()  # Google counts the parts when the batch arrives, not when each is served
    fault = await apply_faults(state, "batch", None, None, at=arrived)
    if fault is not None:
        result = fault_api_result(fault)
        state.stats.request("batch", result.status)
        return to_response(result)
    try:
        parts = parse_batch(await request.body(), request.headers.get("content-type", ""))
    except ValueError as exc:
        result = json_result(400, api_error(400, f"Failed to parse batch request, error: {exc}", "badRequest"))
        state.stats.request("batch", 400)
        return to_response(result)
    limit = state.config.batch_max_parts
    with state.lock:
        state.stats.batch_requests += 1
        state.stats.batch_parts += len(parts)
        state.stats.batch_max_parts = max(state.stats.batch_max_parts, len(parts))
        state.stats.batch_overflow_parts += max(0, len(parts) - limit)
    if len(parts) > limit and state.config.batch_overflow == "reject":
        message = f"A batch request cannot contain more than {limit} requests (got {len(parts)})."
        result = json_result(400, api_error(400, message, "batchSizeTooLarge"))
        state.stats.request("batch", 400)
        return to_response(result)
    base = base_url(request)
    results = await asyncio.gather(*(_run_part(state, inner, i, base, arrived) for i, inner in enumerate(parts)))
    body, content_type = serialize_batch([(inner.content_id, res) for inner, res in zip(parts, results, strict=True)])
    state.stats.request("batch", 200)
    return Response(
        content=body, status_code=200, media_type=content_type, headers={"Vary": "Origin, X-Origin, Referer"}
    )
