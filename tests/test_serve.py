"""``svhn serve`` as a real server process on 127.0.0.1: its readings equal ``predict()``'s for the same photos, and
every bad input gets its status and a message saying what to fix, with the server still answering ``/health``
afterwards. The photos are rendered here (the synthetic renderer), nothing from ``../shared``."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dashboard.screenshots import free_port
from svhn_api.serve.client import Answer, call, read

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES, MAX_PHOTOS = 2_000_000, 4


def start(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "svhn_api", "serve", "--port", str(port), "--log-level",
                             "warning", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 90) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}): {proc.stdout.read().decode()[-3000:]}")
        try:
            if call(f"{url}/health", timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url}/health not ready within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """The server under test (queue of 1: a second request at once is refused) and one whose every reading
    times out; both started at once."""
    main = start("--max-bytes", str(MAX_BYTES), "--max-photos", str(MAX_PHOTOS), "--queue", "1")
    hurried = start("--timeout", "0.001")
    try:
        for proc, url in (main, hurried):
            wait_ready(proc, url)
        yield main[1], hurried[1]
    finally:
        for proc, _ in (main, hurried):
            stop(proc)


@pytest.fixture(scope="module")
def server(servers) -> str:
    return servers[0]


def png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, bytes]]:
    from svhn_api.synthetic import render_sample

    return [(f"house{i}.png", png(render_sample(np.random.default_rng([33, i]))[0])) for i in range(3)]


def bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (8-bit gray), its data a few zero rows: small on the wire,
    400 megapixels once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (width + 1) * 16)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def healthy(url: str) -> None:
    assert call(f"{url}/health").status == 200


def plain(rows: list[dict]) -> list[dict]:
    return json.loads(json.dumps(rows))


def test_readings_equal_predicts(server, photos):
    from svhn_api.inference.predict import predict

    answer = read(server, photos)
    assert answer.status == 200, answer.body
    expected = [r.row(name) for (name, _), r in
                zip(photos, predict([data for _, data in photos], names=[n for n, _ in photos]), strict=True)]
    got = answer.body["results"]
    assert [r["image"] for r in got] == [n for n, _ in photos]
    for g, e in zip(got, plain(expected), strict=True):
        assert (g["number"], g["unsure"], g["box"], g["located"], g["pipeline"], g["error"]) == \
               (e["number"], e["unsure"], e["box"], e["located"], e["pipeline"], e["error"])
        assert g["confidence"] == pytest.approx(e["confidence"], abs=1e-6)
        assert set(g) == set(e)


def test_raw_body_with_a_box_and_options_equals_predict(server, photos):
    from svhn_api.inference.predict import predict

    name, data = photos[1]
    answer = call(f"{server}/read?pipeline=fast&digits=false&box=2,2,30,20", data, "image/png")
    assert answer.status == 200, answer.body
    (got,) = answer.body["results"]
    e = plain([predict(data, boxes=(2, 2, 30, 20), pipeline="fast", digits=False).row("photo")])[0]
    assert (got["number"], got["box"], got["pipeline"], got["located"]) == (e["number"], e["box"], "fast", False)
    assert got["confidence"] == pytest.approx(e["confidence"], abs=1e-6)


def test_one_bad_photo_among_good_ones_has_its_error_the_others_are_read(server, photos):
    answer = read(server, [photos[0], ("notes.png", b"just some text")])
    assert answer.status == 200
    good, bad = answer.body["results"]
    assert good["error"] is None and good["number"]
    assert bad["number"] is None and "notes.png: not a readable image" in bad["error"]


def _bad_inputs(photos: list[tuple[str, bytes]]) -> dict[str, tuple]:
    """name: (how to send it, the status, a piece of the message)."""
    first = photos[0][1]
    return {
        "text as png": (lambda s: read(s, [("notes.png", b"house 42, not a photo")]), 422,
                        "notes.png: not a readable image"),
        "truncated": (lambda s: read(s, [("cut.png", first[: len(first) // 2])]), 422,
                      "cut.png: corrupt or truncated image"),
        "0 bytes": (lambda s: read(s, [("empty.png", b"")]), 422, "empty.png: the file is empty"),
        "20000x20000 bomb": (lambda s: read(s, [("bomb.png", bomb())]), 413,
                             "bomb.png: too many pixels: 400,000,000 pixels"),
        "wrong content type": (lambda s: call(f"{s}/read", b'{"photo": "house.png"}', "application/json"), 415,
                               "Content-Type 'application/json' is not a photo"),
        "no content type": (lambda s: call(f"{s}/read", first), 415, "is not a photo"),
        "a server path as the photo": (lambda s: call(f"{s}/read", str(ROOT / "README.md").encode(), "image/png"),
                                       422, "photo: not a readable image"),
        "box outside": (lambda s: read(s, [photos[0]], boxes=["5000,5000,10,10"]), 422, "lies outside the"),
        "box not numbers": (lambda s: read(s, [photos[0]], boxes=["ten,5,40,30"]), 422,
                            "box 'ten,5,40,30' is not 4 numbers; give 4 numbers left,top,width,height"),
        "boxes miscounted": (lambda s: read(s, photos[:2], boxes=["1,1,5,5"]), 422, "1 box fields for 2 photos"),
        "huge request": (lambda s: read(s, [("big.png", b"\0" * (MAX_BYTES + 1))]), 413,
                         f"over the {MAX_BYTES:,}-byte limit"),
        "too many photos": (lambda s: read(s, photos[:1] * (MAX_PHOTOS + 1)), 413,
                            f"{MAX_PHOTOS + 1} photos in one request, over the limit of {MAX_PHOTOS}"),
        "no photo": (lambda s: read(s, []), 400, "no photo in the request"),
        "unknown option": (lambda s: read(s, photos[:1], options={"pipe": "fast"}), 422,
                           "unknown query parameter 'pipe'"),
        "bad option": (lambda s: read(s, photos[:1], options={"digits": "maybe"}), 422,
                       "digits='maybe': give true or false"),
        "unknown endpoint": (lambda s: call(f"{s}/predict", b"x", "image/png"), 404, "no such endpoint '/predict'"),
    }


BAD = list(_bad_inputs([("x", b"")]))


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gets_its_status_and_message_and_the_server_stays_up(server, photos, case):
    send, status, message = _bad_inputs(photos)[case]
    answer: Answer = send(server)
    assert answer.status == status, answer.body
    assert answer.body["status"] == status and message in answer.body["error"], answer.body
    assert "Traceback" not in json.dumps(answer.body)
    healthy(server)


def test_a_full_queue_answers_503_with_retry_after_and_recovers(server, photos):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: read(server, photos), range(8)))
    statuses = sorted(a.status for a in answers)
    assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}, statuses
    busy = next(a for a in answers if a.status == 503)
    assert busy.headers["retry-after"].isdigit() and "the server is busy" in busy.body["error"]
    assert read(server, photos[:1]).status == 200


def test_a_reading_past_the_timeout_answers_504_and_the_server_stays_up(servers, photos):
    _, hurried = servers
    answer = read(hurried, photos)
    assert answer.status == 504 and "longer than the 0.001 s limit" in answer.body["error"], answer.body
    healthy(hurried)


def test_docs_describe_every_field_of_a_reading_without_the_internet(server, photos):
    row = read(server, photos[:1]).body["results"][0]
    doc = call(f"{server}/openapi.json").body
    reading = doc["components"]["schemas"]["Reading"]["properties"]
    assert set(row) == set(reading), set(row) ^ set(reading)
    candidate = doc["components"]["schemas"]["Candidate"]["properties"]
    for c in row["candidates"]:
        assert set(c) == set(candidate)
    with __import__("urllib.request").request.urlopen(f"{server}/docs") as r:
        page = r.read().decode()
    assert all(f"<code>{name}</code>" in page for name in row)
    assert "<script" not in page and "src=" not in page and "https://" not in page


def test_models_give_each_cards_facts(server):
    answer = call(f"{server}/models")
    assert answer.status == 200
    by_role = {m["role"]: m for m in answer.body["models"]}
    reader = by_role["reader"]
    assert reader["runtime"] in ("onnxruntime", "keras") and reader["versions"]
    assert reader["evaluations"] and all(e["data"] and e["metrics"] for e in reader["evaluations"])
    assert not any(str(ROOT) in json.dumps(m) for m in answer.body["models"])   # no server path


def test_a_bad_limit_is_a_usage_error():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SVHN_SERVE_QUEUE": "none"}
    done = subprocess.run([sys.executable, "-m", "svhn_api", "serve", "--port", "1"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    assert done.returncode != 0 and "$SVHN_SERVE_QUEUE='none': give a whole number greater than 0" in done.stderr
