"""``GET /models``: the facts of the models the server reads with, from their cards: what each is, its
versions, the accuracy figures recorded on it with the data each ran on, and what runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svhn_api import paths


def _ours(role: str, folder: Path) -> dict[str, Any]:
    from svhn_api.models.io import load

    lm = load(folder)
    card = lm.card
    return {"role": role, "name": card.name or folder.name, "architecture": card.architecture_name,
            "runtime": lm.runtime, "versions": card.versions, "unsure_below": card.decode.unsure_below,
            "trained_on": {k: card.data[k] for k in ("kind", "crop", "counts", "sha256") if k in card.data},
            "evaluations": [{"data": e.get("data"), "metrics": e.get("metrics"), "evaluated": e.get("evaluated")}
                            for e in card.evaluations]}


def _pretrained(kind: str, folder: Path) -> dict[str, Any]:
    from svhn_api.models import scene_text

    m = scene_text.load(folder, kind)  # type: ignore[arg-type]
    source = m.card.get("source", {})
    return {"role": kind, "name": m.card.get("name", folder.name), "architecture": m.card.get("architecture"),
            "runtime": m.runtime,
            "versions": {k: source[k] for k in ("package", "version", "license") if k in source},
            "trained_on": m.card.get("data", {}), "evaluations": []}


def shipped() -> list[dict[str, Any]]:
    """One entry per model ``predict`` reads with by default (reader, localizer, digit classifier, and the
    scene-text models when installed); folders are named, never their paths on the server."""
    out = [_ours("reader", paths.default_model())]
    for role, folder in (("localizer", paths.default_localizer()), ("digits", paths.default_digits())):
        if folder is not None:
            out.append(_ours(role, folder))
    for kind in ("text-detector", "text-recognizer"):
        if (found := paths.default_scene_text(kind)) is not None:
            out.append(_pretrained(kind, found))
    return out
