"""The ASGI app of ``svhn serve``: ``POST /read``, ``GET /health``, ``GET /models``, ``GET /openapi.json`` and
``GET /docs`` (``schema``), on Starlette.

The models load once per worker process, before it accepts a connection; each request's reading runs on a
small thread pool (``Limits.threads``) behind a bounded queue (``limits.Queue``). Photos are only ever the
request's bytes: nothing in a request names a file the server opens. Every error is JSON,
``{"error": message, "status": code}``, the message saying what to fix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from svhn_api.boxes import Box, NotABox, from_text
from svhn_api.errors import ImageError, ImageTooLarge
from svhn_api.serve import schema
from svhn_api.serve.limits import Limits, Queue

log = logging.getLogger("svhn_api.serve")
RETRY_AFTER = 1        # seconds a client told 503 (queue full) waits before it tries again
DRAIN = 2              # a body over the limit is read (and dropped) up to this many times the limit
RAW_TYPES = ("image/", "application/octet-stream")
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class RequestError(Exception):
    """A request the server refuses: its status and the message saying what to fix."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class State:
    """One worker's: its limits and queue, the reading threads, and what the start-up loading found."""

    limits: Limits
    queue: Queue
    pool: ThreadPoolExecutor
    facts: dict[str, Any] = field(default_factory=dict)   # what /health and /models answer


def error(status: int, message: str, headers: Mapping[str, str] | None = None, **more: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **more}, status_code=status, headers=headers)


def _state(request: Request) -> State:
    return request.app.state.svhn  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------------- loading

def _load(state: State) -> None:
    """Load every model ``predict`` uses (from its caches afterwards) and read a blank photo on each pipeline,
    so that the first request pays no start-up cost."""
    from PIL import Image

    from svhn_api.inference.predict import PIPELINES, default_pipeline, predict, runtimes
    from svhn_api.serve.facts import shipped

    pipeline = default_pipeline()
    ran = runtimes(scene_text=pipeline == "full")
    blank = Image.new("RGB", (96, 48), "white")
    for p in PIPELINES if pipeline == "full" else ("fast",):
        predict(blank, pipeline=p)
    state.facts = {"pipeline": pipeline, "runtime": ran, "models": shipped()}
    log.info("models loaded (%s pipeline by default): %s", pipeline, ran)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """The models load before the worker accepts a connection (uvicorn serves after this start-up): until then
    nothing answers on a lone worker, and the other workers take the connections while a new one loads. A model
    that cannot be loaded stops the worker with the error in the log."""
    limits = Limits.from_env()
    state = State(limits, Queue(limits.queue), ThreadPoolExecutor(limits.threads, thread_name_prefix="svhn-read"))
    await asyncio.to_thread(_load, state)
    app.state.svhn = state
    try:
        yield
    finally:
        state.pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------------------ the request

async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) past ``limit`` bytes. The bytes past it are read and dropped, up to
    ``DRAIN`` times the limit, so that a client that sends its whole body before reading the answer (most do)
    gets the 413 rather than a broken connection; a body declared larger than that is refused unread."""
    declared = request.headers.get("content-length", "")
    refusal = RequestError(413, f"the request is {f'{int(declared):,} bytes, ' if declared.isdigit() else ''}over the "
                           f"{limit:,}-byte limit; send fewer or smaller photos per request")
    if declared.isdigit() and int(declared) > DRAIN * limit:
        raise refusal
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN * limit:
            break
    if size > limit:
        raise refusal
    return b"".join(chunks)


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body
    yield b""


async def _multipart(request: Request, body: bytes) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The photos (file name, bytes) and ``box`` fields of a multipart body, in order."""
    parser = MultiPartParser(request.headers, _once(body), max_files=1000, max_fields=1000)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise RequestError(400, f"the multipart body could not be read ({e.message}); send each photo as a file "
                           "field named photo (curl -F photo=@house.png)") from None
    photos: list[tuple[str, bytes]] = []
    boxes: list[str] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                photos.append((value.filename or f"photo {len(photos) + 1}", await value.read()))
            elif name == "box":
                boxes.append(value)
            else:
                raise RequestError(422, f"unknown form field {name!r}: send photos as file fields (photo) and "
                                   "optionally one box field per photo; options go in the query string")
    finally:
        await form.close()
    return photos, boxes


def _boxes(given: list[str], count: int) -> list[Box | None] | None:
    """The box of each photo (an empty field: none), or None when no box was given."""
    if not given:
        return None
    if len(given) != count:
        raise RequestError(422, f"{len(given)} box fields for {count} photos: give one box field per photo, in the "
                           "photos' order (an empty one for a photo without a box), or none")
    try:
        return [from_text(b) if b.strip() else None for b in given]
    except NotABox as e:
        raise RequestError(422, f"box {e}") from None


def _flag(query: dict[str, str], name: str) -> bool | None:
    if name not in query:
        return None
    value = BOOLEANS.get(query[name].strip().lower())
    if value is None:
        raise RequestError(422, f"{name}={query[name]!r}: give true or false")
    return value


def _options(query: dict[str, str]) -> dict[str, Any]:
    """``predict``'s options from the query string (``schema.OPTIONS``)."""
    from svhn_api.inference.predict import PIPELINES

    unknown = sorted(set(query) - set(schema.OPTIONS))
    if unknown:
        raise RequestError(422, f"unknown query parameter {unknown[0]!r}; the options are "
                           f"{', '.join(schema.OPTIONS)}")
    options: dict[str, Any] = {}
    if "pipeline" in query:
        if query["pipeline"] not in PIPELINES:
            raise RequestError(422, f"pipeline={query['pipeline']!r}: give {' or '.join(PIPELINES)}")
        options["pipeline"] = query["pipeline"]
    if _flag(query, "digits") is False:
        options["digits"] = False
    if _flag(query, "whole") is True:
        options["localizer"] = False
    if (search := _flag(query, "search")) is not None:
        options["search"] = search
    return options


async def _request(request: Request, limits: Limits) -> tuple[list[tuple[str, bytes]], list[Box | None] | None,
                                                              dict[str, Any]]:
    """The photos, their boxes and the reading options of a ``POST /read``; ``RequestError`` when refused."""
    query = dict(request.query_params)
    options = _options(query)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        if "box" in query:
            raise RequestError(422, "box in the query string is for a photo sent as raw bytes; with multipart, "
                               "send one box field per photo")
        photos, given = await _multipart(request, await _body(request, limits.max_bytes))
    elif kind.startswith(RAW_TYPES):
        photos, given = [("photo", await _body(request, limits.max_bytes))], [query["box"]] if "box" in query else []
    else:
        raise RequestError(415, f"Content-Type {kind or '(none)'!r} is not a photo: send photos as "
                           "multipart/form-data file fields named photo, or one photo as the raw body with "
                           "Content-Type image/png, image/jpeg or application/octet-stream")
    if not photos:
        raise RequestError(400, "no photo in the request: send each photo as a file field named photo "
                           "(curl -F photo=@house.png)")
    if len(photos) > limits.max_photos:
        raise RequestError(413, f"{len(photos)} photos in one request, over the limit of {limits.max_photos}; "
                           "send the others in further requests")
    return photos, _boxes(given, len(photos)), options


def _read(photos: list[tuple[str, bytes]], boxes: list[Box | None] | None, options: dict[str, Any],
          deadline: float) -> tuple[int, list[dict[str, Any]]] | None:
    """The readings (``Prediction.row``, in order) and the answer's status, on a reading thread: 200 when any
    photo was read, else 413 when one was too large, else 422. None when the deadline passed before it began
    (its client has had its 504)."""
    from svhn_api.data.images import load_image
    from svhn_api.inference.predict import predict_decoded

    if time.monotonic() > deadline:
        return None
    decoded: list[Any] = []
    too_large = False
    for name, data in photos:
        try:
            decoded.append(load_image(data, name))
        except ImageTooLarge as e:
            decoded.append(str(e))
            too_large = True
        except ImageError as e:
            decoded.append(str(e))
    names = [name for name, _ in photos]
    rows = [r.row(name) for name, r in zip(names, predict_decoded(decoded, names, boxes, **options), strict=True)]
    status = 200 if any(r["error"] is None for r in rows) else 413 if too_large else 422
    return status, rows


async def read(request: Request) -> Response:
    state = _state(request)
    if not state.queue.enter():
        return error(503, f"the server is busy ({state.queue.size} requests queued, its limit); try again in "
                     f"{RETRY_AFTER} s", {"Retry-After": str(RETRY_AFTER)})
    deadline = time.monotonic() + state.limits.timeout
    started = False
    try:
        try:
            photos, boxes, options = await asyncio.wait_for(_request(request, state.limits), state.limits.timeout)
        except RequestError as e:
            return error(e.status, e.message, e.headers)
        except ClientDisconnect:   # nobody to answer; not the server's failure
            return error(400, "the client went away before sending the whole request")
        job = asyncio.get_running_loop().run_in_executor(state.pool, _read, photos, boxes, options, deadline)
        job.add_done_callback(lambda _: state.queue.leave())
        started = True
        try:
            done = await asyncio.wait_for(asyncio.shield(job), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return _timed_out(state)
    except TimeoutError:
        return _timed_out(state)
    finally:
        if not started:
            state.queue.leave()
    if done is None:
        return _timed_out(state)
    status, rows = done
    if status != 200:
        first = next(r["error"] for r in rows)
        return error(status, first if len(rows) == 1 else f"none of the {len(rows)} photos could be read; the first: "
                     f"{first}", results=rows)
    return JSONResponse({"results": rows})


def _timed_out(state: State) -> JSONResponse:
    return error(504, f"the reading took longer than the {state.limits.timeout:g} s limit; send fewer or smaller "
                 "photos per request, or try again when the server is less busy")


async def health(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"status": "ok", "pid": os.getpid(), "pipeline": state.facts["pipeline"],
                         "runtime": state.facts["runtime"],
                         "queue": {"admitted": state.queue.admitted, "size": state.queue.size},
                         "limits": state.limits.__dict__})


async def models(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"models": state.facts["models"]})


async def openapi(request: Request) -> Response:
    return JSONResponse(schema.openapi(_limits(request)))


async def docs(request: Request) -> Response:
    return HTMLResponse(schema.html_page(_limits(request)))


def _limits(request: Request) -> Limits:
    state = getattr(request.app.state, "svhn", None)
    return state.limits if state is not None else Limits.from_env()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error(404, f"no such endpoint {request.url.path!r}; see {', '.join(schema.ENDPOINTS)} (/docs "
                     "describes them)")
    if exc.status_code == 405:
        return error(405, f"{request.method} is not allowed on {request.url.path}; see /docs", exc.headers)
    return error(exc.status_code, str(exc.detail), exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error(500, "the server failed on this request (its log has the details); if it happens again with "
                 "the same photo, report it with the photo")


def create_app() -> Starlette:
    """The app (uvicorn's factory: each worker process makes its own, and loads its own models)."""
    routes = [Route("/read", read, methods=["POST"]), Route("/health", health), Route("/models", models),
              Route("/openapi.json", openapi), Route("/docs", docs)]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error, Exception: _server_error})
