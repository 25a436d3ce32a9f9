"""``python -m svhn_api <command>``: headless access to prepare, synth, train, evaluate and predict.

Every command has ``--help``; ``--json`` prints a machine-readable summary as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def _csv(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def _box(s: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--box {s!r}: give left,top,width,height, e.g. 10,5,40,30") from None
    return x, y, w, h


def _emit(result: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    else:
        print(text)


def cmd_prepare(a: argparse.Namespace) -> int:
    from svhn_api.data.prepare import prepare

    s = prepare(a.archives, source=a.source, splits=a.splits, crop=a.crop, jobs=a.jobs, out=a.out,
                validation_size=a.validation_size, seed=a.seed, download=not a.no_download,
                progress=not a.json)
    lines = [f"store: {s.path}  (crop {s.crop}, {s.seconds:.1f} s)"]
    lines += [f"  {k:<10} {v:>8,} images" for k, v in s.counts.items()]
    if s.left_out:
        lines.append(f"  left out: {len(s.left_out)} images")
        lines += [f"    {x['archive']}/{x['filename']}: {x['reason']}" for x in s.left_out[:20]]
        if len(s.left_out) > 20:
            lines.append(f"    ... and {len(s.left_out) - 20} more (see --json)")
    _emit(json.loads(s.to_json()), a.json, "\n".join(lines))
    return 0


def cmd_synth(a: argparse.Namespace) -> int:
    from svhn_api.synthetic import synth

    paths = synth(a.out, train=a.train, extra=a.extra, test=a.test, seed=a.seed, jobs=a.jobs,
                  progress=not a.json)
    _emit({k: str(v) for k, v in paths.items()}, a.json, "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from svhn_api.training.train import train

    result = train(data=a.data, model=a.model, name=a.name, epochs=a.epochs, batch_size=a.batch_size,
                   seed=a.seed, minutes=a.minutes, loss=a.loss, progress=not a.json)
    _emit(result, a.json, json.dumps(result, indent=2, default=str))
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from svhn_api.inference.evaluate import evaluate

    report = evaluate(a.model, a.data, split=a.split, samples=a.samples, seed=a.seed, progress=not a.json,
                      record=a.record)
    _emit(report, a.json, report.get("text", json.dumps(report, indent=2, default=str)) if isinstance(
        report, dict) else str(report))
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from svhn_api.inference.predict import predict

    boxes = [a.box] * len(a.images) if a.box else None
    results = predict(a.images, model=a.model, boxes=boxes)
    rows = [{"image": p, **r.to_dict()} for p, r in zip(a.images, results, strict=True)]
    text = "\n".join(f"{r['image']}: {r['number']}  (confidence {r['confidence']:.3f}; next: "
                     f"{', '.join(x['number'] for x in r['alternatives'][:3])})" for r in rows)
    _emit(rows, a.json, text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m svhn_api", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    q = sub.add_parser("prepare", help="archives -> prepared HDF5 store")
    q.add_argument("--source", choices=("official", "synthetic"), default="official",
                   help="official SVHN archives (downloaded when missing) or the embedded synthetic sample")
    q.add_argument("--archives", help="folder holding train/extra/test.tar.gz (default data/archives, "
                   "or data/synthetic/archives for --source synthetic)")
    q.add_argument("--splits", type=_csv, default=("train", "extra", "test"), help="comma list (default all)")
    q.add_argument("--crop", choices=("union", "seed"), default="union",
                   help="union: 64x64 RGB of the expanded union box; seed: the 2016 capstone's 32x32 strip")
    q.add_argument("--jobs", type=int, default=-1, help="parallel workers (default: all cores)")
    q.add_argument("--out", help="output store (default data/svhn_<crop>.h5)")
    q.add_argument("--validation-size", type=int, default=6000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-download", action="store_true", help="fail instead of downloading missing archives")
    q.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    q.set_defaults(func=cmd_prepare)

    q = sub.add_parser("synth", help="write synthetic house-number archives in the official layout")
    q.add_argument("--out", required=True, help="folder for train/extra/test.tar.gz")
    q.add_argument("--train", type=int, default=4000)
    q.add_argument("--extra", type=int, default=1000)
    q.add_argument("--test", type=int, default=1000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--jobs", type=int, default=-1)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_synth)

    q = sub.add_parser("train", help="train a model on a prepared store")
    q.add_argument("--data", required=True, help="prepared store (.h5)")
    q.add_argument("--model", choices=("compact", "seed", "deep"), default="compact")
    q.add_argument("--name", help="output folder name under artifacts/models (default: the model name)")
    q.add_argument("--epochs", type=int, default=30)
    q.add_argument("--batch-size", type=int, default=None)
    q.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    q.add_argument("--loss", choices=("sum", "masked"), default="sum",
                   help="sum of the six cross-entropies, or the paper's (no gradient for absent digits)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_train)

    q = sub.add_parser("evaluate", help="accuracy of a model on a split of a prepared store")
    q.add_argument("--model", default=None, help="model folder or .keras file (default: the shipped model)")
    q.add_argument("--data", required=True)
    q.add_argument("--split", choices=("train", "validation", "test"), default="test")
    q.add_argument("--samples", type=int, default=None, help="evaluate this many random rows (e.g. 64)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--record", action="store_true", help="append the result to the model's card.json")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("predict", help="read the house number in one or more images")
    q.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    q.add_argument("--box", type=_box, help="the number's region left,top,width,height (applied to every image)")
    q.add_argument("--model", default=None, help="model folder or .keras file (default: the shipped model)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_predict)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the terminal
    args = build_parser().parse_args(argv)
    from svhn_api.errors import SVHNError

    try:
        return args.func(args)
    except (SVHNError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished parts are kept; run the same command again to continue", file=sys.stderr)
        return 130
