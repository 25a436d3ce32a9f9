"""A small client of ``svhn serve`` on the standard library alone (no dependency for a program that only reads
over HTTP): ``read`` posts photos and returns the answer, whatever its status."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    """An HTTP answer: its status, headers (names in lower case) and JSON body (``{}`` when the body is not JSON)."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def multipart(photos: Sequence[tuple[str, bytes]], fields: Sequence[tuple[str, str]] = ()) -> tuple[bytes, str]:
    """A multipart/form-data body of ``photos`` (file name, bytes; as file fields named ``photo``) and text
    ``fields``, and its Content-Type."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
    for filename, data in photos:
        quoted = filename.replace('"', "%22")
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{quoted}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def call(url: str, body: bytes | None = None, content_type: str | None = None, timeout: float = 60) -> Answer:
    """GET ``url`` (no body) or POST ``body``; any status is an ``Answer`` (connection errors raise ``OSError``)."""
    request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, headers, raw = r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return Answer(status, headers, parsed if isinstance(parsed, dict) else {"body": parsed})


def read(server: str, photos: Sequence[tuple[str, bytes]], boxes: Sequence[str] | None = None,
         options: Mapping[str, str] | None = None, timeout: float = 60) -> Answer:
    """POST ``photos`` (file name, bytes) to ``server``'s ``/read`` with a box per photo (``"l,t,w,h"`` or ``""``)
    and query ``options`` (``pipeline``, ``digits``, ...)."""
    body, kind = multipart(photos, [("box", b) for b in boxes or ()])
    query = f"?{urllib.parse.urlencode(options)}" if options else ""
    return call(f"{server.rstrip('/')}/read{query}", body, kind, timeout)
