"""The API's description, written once: the OpenAPI document ``GET /openapi.json`` answers, and the HTML page
``GET /docs`` renders from it (self-contained: no script or style from elsewhere, so it reads offline)."""

from __future__ import annotations

import html
from typing import Any

from svhn_api.serve.limits import Limits
from svhn_api.version import __version__

ENDPOINTS = ("POST /read", "GET /health", "GET /models", "GET /openapi.json", "GET /docs")
OPTIONS = {
    "pipeline": ("string", "full (the default when the scene-text models are installed: our reader and the "
                 "pretrained scene-text models propose, read and choose) or fast (our reader, localizer and digit "
                 "classifier alone: several times faster, worse on numbers small in the photo)"),
    "digits": ("boolean", "false: the reader alone, without the digit classifier's check of each digit (faster, "
               "less accurate); default true"),
    "whole": ("boolean", "true: read the whole photo, without the localizer; default false"),
    "search": ("boolean", "false: no search of overlapping windows when the localizer's box reads unsure (faster, "
               "worse on numbers small in the photo); default true"),
    "box": ("string", "raw-body requests only: the number's region left,top,width,height in pixels, e.g. "
            "10,5,40,30 (multipart requests send a box field per photo instead)"),
}


def _obj(props: dict[str, Any], required: list[str] | None = None, description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if description:
        out["description"] = description
    return out


def _t(kind: str | list[str], description: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **more}


_BOX = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4}

CANDIDATE = _obj({
    "box": {**_BOX, "type": "array", "description": "the candidate box, left, top, width, height in pixels"},
    "source": _t("string", "what proposed it: the fast path's box, the text detector, or a pair of its boxes"),
    "reader": _obj({"number": _t(["string", "null"], "our reader's number in this box"),
                    "confidence": _t("number", "its confidence (0-1)")}, description="our reader's reading"),
    "recognizer": _obj({"text": _t("string", "every character the scene-text recognizer read"),
                        "digits": _t("string", "its reading over the digits alone"),
                        "score": _t("number", "its score (0-1)"),
                        "letters": _t("boolean", "whether it saw letters")},
                       description="the pretrained scene-text recognizer's reading"),
    "agree": _t("boolean", "whether the two readings agree"),
}, description="one box the full pipeline read, and both readings of it")

READING = _obj({
    "image": _t("string", "the photo's name: its multipart file name (else 'photo N'), or 'photo' for a raw body"),
    "number": _t(["string", "null"], "the house number read; null when the photo could not be read (see error)"),
    "confidence": _t("number", "fast path: the probability of the decoded sequence; full pipeline: the calibrated "
                     "chance that the reading is right (0 for a photo not read)"),
    "unsure": _t("boolean", "true when the confidence is under the calibrated threshold: check this reading"),
    "box": {**_BOX, "description": "the region read, left, top, width, height in pixels; null: the whole photo"},
    "located": _t("boolean", "true when the localizer (or the full pipeline) found the box; false: given, or whole"),
    "alternatives": {"type": "array", "description": "the reader's next most probable numbers",
                     "items": _obj({"number": _t("string", "a number"),
                                    "probability": _t("number", "its probability")})},
    "probabilities": {"type": ["array", "null"], "description": "the reader's 6x11 probabilities: row 0 the length "
                      "(0-5 digits, 6 more), rows 1-5 the digit positions (0-9, 10 no digit); null when not read",
                      "items": {"type": "array", "items": {"type": "number"}}},
    "error": _t(["string", "null"], "why this photo could not be read (naming it, saying what to fix); null when read"),
    "runtime": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "what ran each model: {\"reader\": \"onnxruntime\", ...}"},
    "pipeline": _t("string", "which pipeline read it: full or fast", enum=["full", "fast"]),
    "chosen_by": _t(["string", "null"], "full pipeline: why this reading won (corroborated, agreement, recognizer, "
                    "reader); null on the fast path"),
    "why": _t(["string", "null"], "chosen_by in words"),
    "candidates": {"type": "array", "items": {"$ref": "#/components/schemas/Candidate"},
                   "description": "full pipeline: every box read, with both readings; empty on the fast path"},
}, ["image", "number", "confidence", "unsure", "box", "error"],
    "one photo's reading: the fields of `svhn predict --json`")

ERROR = _obj({"error": _t("string", "what went wrong and what to do about it"),
              "status": _t("integer", "the HTTP status, repeated"),
              "results": {"type": "array", "items": {"$ref": "#/components/schemas/Reading"},
                          "description": "POST /read when no photo could be read: each photo's reading, its error "
                          "set"}}, ["error", "status"], "every error answer")

MODEL = _obj({
    "role": _t("string", "reader, localizer, digits, text-detector or text-recognizer"),
    "name": _t("string", "the model's name (its folder's, when its card has none)"),
    "architecture": _t(["string", "null"], "what the network is"),
    "runtime": _t("string", "what runs it: onnxruntime or keras"),
    "versions": _t("object", "our models: the library versions it was trained with; pretrained ones: the package "
                   "it comes from, its version and licence"),
    "unsure_below": _t(["number", "null"], "our models: the calibrated confidence under which a reading is unsure"),
    "trained_on": _t("object", "the data it was trained on (kind, crop, counts, the store's SHA-256)"),
    "evaluations": {"type": "array", "description": "the accuracy figures recorded on its card, each with its data",
                    "items": _obj({"data": _t("object", "what it was evaluated on: name, split, kind, crop, count"),
                                   "metrics": _t("object", "the figures, e.g. whole_number_accuracy"),
                                   "evaluated": _t(["string", "null"], "when (UTC)")})},
})

HEALTH = _obj({
    "status": _t("string", "ok: the models are loaded and requests are read"),
    "pid": _t("integer", "the answering worker process"),
    "pipeline": _t("string", "the pipeline read when a request names none"),
    "runtime": _t("object", "what runs each model"),
    "queue": _obj({"admitted": _t("integer", "requests being read or waiting, in this worker"),
                   "size": _t("integer", "the most it admits; beyond it, 503")}),
    "limits": _obj({"max_bytes": _t("integer", "a request's largest body"),
                    "max_photos": _t("integer", "photos per request"),
                    "queue": _t("integer", "requests admitted at once per worker"),
                    "timeout": _t("number", "seconds from a request's arrival to its answer"),
                    "threads": _t("integer", "readings at once per worker")}),
})


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("Error")}


def openapi(limits: Limits) -> dict[str, Any]:
    """The OpenAPI 3.1 document, its limits those of this server."""
    from svhn_api.data.images import MAX_PIXELS

    read_doc = (
        f"Reads the house number in one or several photos (at most {limits.max_photos} per request, "
        f"{limits.max_bytes:,} bytes in all, {MAX_PIXELS:,} pixels each, checked from the header before decoding). "
        "Send photos as multipart/form-data file fields (any field name; `photo` by convention), with an optional "
        "`box` field per photo (left,top,width,height; empty: none), or one photo as the raw body (Content-Type "
        "image/* or application/octet-stream). The readings come in the photos' order. A photo that cannot be "
        "read has its error in its reading while the others are read; when none can be read the answer is 413 "
        "(a photo too large) or 422, with each reading.")
    params = [{"name": name, "in": "query", "required": False, "description": text, "schema": {"type": kind}}
              for name, (kind, text) in OPTIONS.items()]
    busy = {"description": "the queue is full: try again after Retry-After "
            "seconds", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": _json("Error")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "svhn-reader", "version": __version__,
                 "description": "Reads house numbers from street photos (`svhn serve`). Every error is JSON "
                 "(Error), its message saying what to fix."},
        "paths": {
            "/read": {"post": {
                "summary": "read the house number in photos", "description": read_doc, "parameters": params,
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": _obj({
                        "photo": {"type": "array", "items": {"type": "string", "contentMediaType":
                                  "application/octet-stream"}, "description": "the photos (PNG, JPEG, ...)"},
                        "box": {"type": "array", "items": {"type": "string"}, "description": "one per photo, in "
                                "order: left,top,width,height in pixels, or empty for none"}})},
                    "image/*": {"schema": {"type": "string", "contentMediaType": "image/*",
                                           "description": "one photo's bytes"}},
                    "application/octet-stream": {"schema": {"type": "string", "description": "one photo's bytes"}},
                }},
                "responses": {
                    "200": {"description": "the readings, in the photos' order", "content": {"application/json": {
                        "schema": _obj({"results": {"type": "array",
                                                    "items": {"$ref": "#/components/schemas/Reading"}}})}}},
                    "400": _err("no photo in the request, or a multipart body that cannot be parsed"),
                    "413": _err("the request is over the byte limit, has too many photos, or (none read) a photo "
                                "is over the byte or pixel limit (a decompression bomb is refused before decoding)"),
                    "415": _err("the Content-Type is neither multipart/form-data nor a photo's"),
                    "422": _err("no photo could be read (not an image, empty, truncated, a box outside it), or an "
                                "option or box is not valid"),
                    "503": busy,
                    "504": _err(f"the reading took longer than the {limits.timeout:g} s limit"),
                }}},
            "/health": {"get": {"summary": "ready: a worker answers only once its models are loaded", "responses": {
                "200": {"description": "ready", "content": _json("Health")}}}},
            "/models": {"get": {"summary": "the models read with: versions, accuracy figures with their data, runtime",
                                "responses": {"200": {"description": "one entry per model", "content": {
                                    "application/json": {"schema": _obj({"models": {"type": "array", "items": {
                                        "$ref": "#/components/schemas/Model"}}})}}}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI"}}}},
            "/docs": {"get": {"summary": "this document as a page", "responses": {"200": {"description": "HTML"}}}},
        },
        "components": {"schemas": {"Reading": READING, "Candidate": CANDIDATE, "Error": ERROR, "Model": MODEL,
                                   "Health": HEALTH}},
    }


def _kind(s: dict[str, Any]) -> str:
    if "$ref" in s:
        return s["$ref"].rsplit("/", 1)[-1]
    kind = s.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if "items" in s:
        kind += f" of {_kind(s['items'])}"
    return kind


def _fields(s: dict[str, Any], prefix: str = "") -> list[str]:
    """Table rows for every property of ``s``, nested ones as ``a.b``."""
    rows = []
    for name, p in s.get("properties", {}).items():
        rows.append(f"<tr><td><code>{html.escape(prefix + name)}</code></td><td>{html.escape(_kind(p))}</td>"
                    f"<td>{html.escape(p.get('description', ''))}</td></tr>")
        rows += _fields(p, prefix + name + ".")
        if "properties" in p.get("items", {}):
            rows += _fields(p["items"], prefix + name + "[].")
    return rows


def _table(head: str, rows: list[str]) -> str:
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>" if rows else ""


def html_page(limits: Limits) -> str:
    """Every endpoint, option, status and field of ``openapi(limits)`` as one page."""
    doc = openapi(limits)
    parts = [f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>",
             f"<p>{html.escape(doc['info']['description'])} The same as JSON: <a href='/openapi.json'>"
             "/openapi.json</a>.</p>"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h2>{method.upper()} {html.escape(path)}</h2><p>{html.escape(op['summary'])}</p>")
            if "description" in op:
                parts.append(f"<p>{html.escape(op['description'])}</p>")
            parts.append(_table("<th>query</th><th>type</th><th></th>", [
                f"<tr><td><code>{p['name']}</code></td><td>{p['schema']['type']}</td>"
                f"<td>{html.escape(p['description'])}</td></tr>" for p in op.get("parameters", [])]))
            for kind, body in op.get("requestBody", {}).get("content", {}).items():
                parts.append(f"<p>Body as <code>{html.escape(kind)}</code>:</p>"
                             + _table("<th>field</th><th>type</th><th></th>", _fields(body["schema"]))
                             if "properties" in body["schema"] else
                             f"<p>Body as <code>{html.escape(kind)}</code>: "
                             f"{html.escape(body['schema'].get('description', ''))}</p>")
            parts.append(_table("<th>status</th><th>answer</th><th></th>", [
                f"<tr><td>{code}</td><td>{html.escape(_answer(r))}</td><td>{html.escape(r['description'])}</td></tr>"
                for code, r in op["responses"].items()]))
    for name, s in doc["components"]["schemas"].items():
        parts.append(f"<h2 id='{name}'>{name}</h2><p>{html.escape(s.get('description', ''))}</p>"
                     + _table("<th>field</th><th>type</th><th></th>", _fields(s)))
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}table{border-collapse:"
             "collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;"
             "vertical-align:top}code{white-space:nowrap}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>svhn-reader API</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>")


def _answer(response: dict[str, Any]) -> str:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return _kind(schema) if "$ref" in schema else "JSON" if schema else ""
