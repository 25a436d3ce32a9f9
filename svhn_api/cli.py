"""The command line, ``svhn <command>`` or ``python -m svhn_api <command>``: prepare, synth, train, evaluate
and predict without the dashboard.

Arguments and input files are checked (images decoded, a results file read) before Keras/TensorFlow is
imported, so a mistake is reported at once, and Keras loads only when there is something to read; it is loaded
through ``svhn_api.backend`` (without TensorFlow's start-up chatter).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from svhn_api.errors import DataError, ImageError, SVHNError

if TYPE_CHECKING:
    from svhn_api.inference.evaluate import Evaluation

DESCRIPTION = """\
Read house numbers from street photos: prepare data, render synthetic data, train, evaluate, predict.

Every command has --help; --json prints a machine-readable summary as the last line of stdout.
Default locations: data in $SVHN_DATA (default ./data), training runs in $SVHN_RUNS (default ./runs),
the model used when none is named in $SVHN_MODEL (default: the shipped compact model).
Models run on ONNX Runtime when it is installed and the model folder holds a current model.onnx (the
shipped ones do; `export` writes one), else on Keras; $SVHN_RUNTIME=keras or onnx insists on one."""
JSON_HELP = "print a machine-readable summary as JSON on the last line of stdout"


def _csv(s: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def _box(s: str) -> tuple[float, float, float, float]:
    from svhn_api.boxes import NotABox, from_text

    try:
        return from_text(s)
    except NotABox as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_NEGATIVE_VALUE = re.compile(r"-[\d.]")


def _negative_boxes(argv: Sequence[str]) -> list[str]:
    """``--box -5,-5,10,10`` as ``--box=-5,-5,10,10``: argparse takes a value that starts with '-' (and is
    not a plain negative number) for an option, so a box that starts left of the image could not be given."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            out += [arg, *args]
            break
        if arg == "--box":
            value = next(args, None)
            if value is not None and _NEGATIVE_VALUE.match(value):
                out.append(f"--box={value}")
                continue
            out += [arg] if value is None else [arg, value]
            continue
        out.append(arg)
    return out


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse ``type``: a number of ``kind`` greater than zero."""
    def parse(s: str) -> Any:
        try:
            v = kind(s)
        except ValueError:
            v = None
        if v is None or not v > 0:
            raise argparse.ArgumentTypeError(f"{s!r}: give a number greater than 0")
        return v

    return parse


def _prog() -> str:
    """How the user started us, for usage lines: ``python -m svhn_api`` or the ``svhn`` script."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if name == "__main__.py":
        return "python -m svhn_api"
    name = name.removesuffix(".exe").removesuffix("-script.py")
    return name if name.startswith("svhn") else "svhn"


# ------------------------------------------------------------------------------------------ checks
# Done before TensorFlow loads (seconds), so that a wrong path is an error at once.


def _check_store(path: str) -> None:
    from svhn_api.data.store import inspect
    from svhn_api.paths import check_file, synthetic_dir

    check_file(path, DataError, "a prepared store", "give the .h5 file that `prepare` wrote (e.g. "
                f"`prepare --source synthetic` makes {synthetic_dir() / 'synthetic_union.h5'})")
    inspect(path)  # opened (no pixels read): a file that is not a store is an error before Keras loads


def _decode_images(images: Sequence[str]) -> list[Any]:
    """Each input decoded now, before Keras loads: its image, or the message saying why it cannot be read.
    Nothing readable: an error at once, each input reported; otherwise each bad one is reported with the
    readings of the others."""
    from svhn_api.data.images import decoded_or_error

    decoded: list[Any] = []
    for path in images:
        decoded.append(decoded_or_error(path))   # the image, or why it cannot be read (images checks the file)
    if all(isinstance(d, str) for d in decoded):
        for message in decoded[:-1]:
            print(f"error: {message}", file=sys.stderr)
        raise ImageError(decoded[-1])
    return decoded


def _check_model(model: str | None) -> None:
    from svhn_api.models.io import resolve

    resolve(model)  # ModelError naming the path and what to give instead


def _load_backend() -> None:
    """Import Keras (and TensorFlow) now, quietly, before the library does."""
    from svhn_api.backend import import_keras

    import_keras()


def _emit(result: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    else:
        print(text)


def cmd_prepare(a: argparse.Namespace) -> int:
    from svhn_api.data.prepare import prepare

    s = prepare(a.archives, source=a.source, splits=a.splits, crop=a.crop, jobs=a.jobs, out=a.out,
                validation_size=a.validation_size, seed=a.seed, download=not a.no_download,
                verify=not a.no_verify, progress=not a.json, scheduler=a.scheduler)
    lines = [f"store: {s.path}  (crop {s.crop}, {s.seconds:.1f} s)"]
    if not s.verified:
        lines.append("  source: unverified archives (size/MD5 not checked; every member was)")
    if a.splits is None and len(s.splits) < 3:
        from svhn_api.paths import archives_dir

        lines.append(f"  archives: {', '.join(f'{x}.tar.gz' for x in s.splits)}, the ones found in "
                     f"{a.archives or archives_dir()} (--splits chooses)")
        if not {"train", "extra"} & set(s.splits):
            lines.append("  no train or extra archive: a store to evaluate models on, not to train them on")
    lines += [f"  {k:<10} {v:>8,} images" for k, v in s.counts.items()]
    if s.left_out:
        lines.append(f"  left out: {len(s.left_out)} images")
        lines += [f"    {x['archive']}/{x['filename']}: {x['reason']}" for x in s.left_out[:20]]
        if len(s.left_out) > 20:
            lines.append(f"    ... and {len(s.left_out) - 20} more (see --json)")
    _emit(json.loads(s.to_json()), a.json, "\n".join(lines))
    return 0


def cmd_synth(a: argparse.Namespace) -> int:
    from svhn_api.data.synthetic_archives import synth

    paths = synth(a.out, train=a.train, extra=a.extra, test=a.test, seed=a.seed, jobs=a.jobs,
                  progress=not a.json)
    _emit({k: str(v) for k, v in paths.items()}, a.json, "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    _check_store(a.data)
    _load_backend()
    from svhn_api.training.train import train

    result = train(data=a.data, model=a.model, name=a.name, epochs=a.epochs, batch_size=a.batch_size,
                   seed=a.seed, minutes=a.minutes, loss=a.loss, progress=not a.json, fresh=a.fresh,
                   devices=a.devices)
    _emit(result.to_dict(), a.json, result.to_json())
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    _check_store(a.data)
    _check_model(a.model)
    _load_backend()
    from svhn_api.inference.evaluate import evaluate

    if a.localizer:
        _check_model(a.localizer)
    report = evaluate(a.model, a.data, split=a.split, samples=a.samples, seed=a.seed, progress=not a.json,
                      record=a.record, whole_photo=a.whole_photo, localizer=a.localizer)
    report = _paths_as_given(report, a.model, a.data)
    _emit(report.to_dict(), a.json, report.text)
    return 0


def _paths_as_given(report: Evaluation, model: str | None, data: str) -> Evaluation:
    """The report naming the model and the store as the user gave them (the library's report, made for
    model cards, names them relative to the checkout), so that they read right from any folder."""
    from svhn_api.paths import default_model

    return replace(report, model=model if model is not None else str(default_model()),
                   data=replace(report.data, path=data))


def _confidence(p: float) -> str:
    """A probability as the fast path prints it: three decimals, or, near 1, how far from 1 it is (the unsure
    threshold lies there, and "1.000" beside UNSURE says nothing)."""
    return f"{p:.3f}" if p < 0.9995 else "1" if p >= 1 else f"1 - {1 - p:.1e}"


def _reading(r: dict[str, Any]) -> str:
    if r["pipeline"] == "full":   # the confidence: the calibrated chance of being right, which sure is decided on
        return (f"{r['image']}: {r['number']}  (confidence {r['confidence']:.1%}, {'UNSURE' if r['unsure'] else 'sure'}"
                f"; {r['chosen_by']}: {r['why']})"
                + (f"  found at {','.join(f'{v:g}' for v in r['box'])}" if r["located"] else ""))
    return (f"{r['image']}: {r['number']}  (confidence {_confidence(r['confidence'])}; next: "
            f"{', '.join(x['number'] for x in r['alternatives'][:3])}; fast path)"
            + ("  UNSURE (under the calibrated confidence)" if r.get("unsure") else "")
            + (f"  found at {','.join(f'{v:g}' for v in r['box'])}" if r["located"] else ""))


def cmd_predict(a: argparse.Namespace) -> int:
    decoded = _decode_images(a.images)
    _check_model(a.model)
    if a.localizer:
        _check_model(a.localizer)
    from svhn_api.errors import BoxWarning
    from svhn_api.inference.predict import predict_decoded

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoxWarning)
        results = predict_decoded(decoded, a.images, boxes=[a.box] * len(decoded) if a.box else None, model=a.model,
                                  localizer=False if a.whole_image else a.localizer,
                                  digits=False if a.no_digits else None, pipeline="fast" if a.fast else None)
    for w in caught:
        if issubclass(w.category, BoxWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    rows = [r.row(p) for p, r in zip(a.images, results, strict=True)]
    for r in rows:  # in input order: a reading on stdout, or the error naming the input on stderr
        if r["error"] is not None:
            sys.stdout.flush()
            print(f"error: {r['error']}", file=sys.stderr)
        elif not a.json:
            print(_reading(r), flush=True)
    if a.json:
        _emit(rows, True, "")
    failed = sum(r["error"] is not None for r in rows)
    return 0 if not failed else 2 if failed == len(rows) else 1    # 2: none could be read (e.g. each box outside)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def cmd_read(a: argparse.Namespace) -> int:
    from svhn_api.inference.bulk import read_photos  # it checks --out and the models before Keras loads

    summary = read_photos(a.inputs, a.out, model=a.model, localizer=False if a.whole_image else a.localizer,
                          fmt=a.format, batch_size=a.batch_size, workers=a.workers, progress=not a.json,
                          scheduler=a.scheduler, digits=False if a.no_digits else None, thorough=a.thorough)
    ran = " and ".join(sorted(set(summary.runtime.values())))
    text = (f"{_count(summary.read, 'photo')} read into {a.out} in {summary.seconds:.1f} s "
            f"({summary.per_second:,.0f} photos/s{', on ' + ran if ran else ''})"
            + (f"; {summary.failed:,} could not be read (see their rows)" if summary.failed else "")
            + (f"; {summary.skipped:,} already there, skipped" if summary.skipped else "")
            + ("; fast path" if summary.pipeline == "fast" else
               f"; thorough: {_count(summary.rechecked, 'unsure photo')} read again by the full pipeline"))
    for why in summary.unread_inputs:   # named, but no photo there: said, not only left to a row
        print(f"warning: {why}", file=sys.stderr)
    _emit({**summary.__dict__, "per_second": round(summary.per_second, 1)}, a.json, text)
    return 1 if summary.failed or summary.unread_inputs else 0


def cmd_export(a: argparse.Namespace) -> int:
    from svhn_api.models.folder import ModelFolder
    from svhn_api.models.runtime import export

    results = {}
    for folder in a.models:
        record = export(folder)
        results[folder] = record
        if not a.json:
            print(f"{folder}: {ModelFolder.ONNX} written and checked equal to {ModelFolder.KERAS} (largest difference "
                  f"{record['max_difference']:.2g} on {sum(record['checked_on'].values())} images); predict, read and "
                  "the dashboard now run it on ONNX Runtime")
    if a.json:
        _emit(results, True, "")
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from svhn_api.serve import Limits, serve

    limits = Limits(**{k: getattr(a, k) for k in Limits.__dataclass_fields__})
    serve(a.host, a.port, a.workers, limits, a.log_level)
    return 0


def build_parser(prog: str | None = None, command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command``, the arguments of ``prepare`` and ``synth`` only when it is the one
    run (their defaults come from their functions, whose modules load h5py: a slow start for every command)."""
    p = argparse.ArgumentParser(prog=prog or _prog(), description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    _add_prepare(sub, full=command in (None, "prepare"))
    _add_synth(sub, full=command in (None, "synth"))
    for add in (_add_train, _add_evaluate, _add_predict, _add_read, _add_export):
        add(sub)
    _add_serve(sub, full=command in (None, "serve"))
    return p


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s keyword defaults, read from its signature: the function owns them, the CLI shows them."""
    import inspect

    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def _add_prepare(sub: Any, full: bool = True) -> None:
    q = sub.add_parser("prepare", help="archives -> prepared HDF5 store")
    if not full:
        return
    from svhn_api.data.prepare import prepare
    from svhn_api.data.preprocess import CROP_MODES

    d = _defaults(prepare)
    q.add_argument("--source", choices=("official", "synthetic"), default=d["source"],
                   help="official SVHN archives (downloaded when missing) or the embedded synthetic sample")
    q.add_argument("--archives", help="folder holding train/extra/test.tar.gz (default $SVHN_DATA/archives, "
                   "or $SVHN_DATA/synthetic/archives for --source synthetic; $SVHN_DATA defaults to ./data)")
    q.add_argument("--splits", type=_csv, default=d["splits"], help="comma list of train, extra, test (default: all "
                   "three; with --no-verify, those whose archive is in --archives)")
    q.add_argument("--crop", choices=CROP_MODES, default=d["crop"],
                   help="union: 64x64 RGB of the expanded union box (the readers); capstone: the 2016 capstone's "
                   "32x32 strip; photo, scene: the whole photo for the localizer, the detector")
    q.add_argument("--jobs", type=int, default=d["jobs"], help="parallel workers (default: all cores)")
    q.add_argument("--scheduler", default=d["scheduler"], metavar="tcp://HOST:PORT",
                   help="preprocess on this Dask cluster's workers instead of local processes (needs the "
                        "'cluster' extra: dask, distributed); the store is the same bytes as a local run's")
    q.add_argument("--out", help="output store (default $SVHN_DATA/svhn_<crop>.h5, or "
                   "$SVHN_DATA/synthetic/synthetic_<crop>.h5 for --source synthetic)")
    q.add_argument("--validation-size", type=int, default=d["validation_size"],
                   help="rows of train+extra held out for validation, at most a tenth (default %(default)s)")
    q.add_argument("--seed", type=int, default=d["seed"],
                   help="seed of the validation sample and of the synthetic sample's rendering (default %(default)s)")
    q.add_argument("--no-download", action="store_true", help="fail instead of downloading missing archives")
    q.add_argument("--no-verify", action="store_true",
                   help="your own archives in the official layout (e.g. a subset): skip the official size/MD5 "
                   "check and never download; every member is still checked, and the store is marked unverified")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_prepare)


def _add_synth(sub: Any, full: bool = True) -> None:
    q = sub.add_parser("synth", help="write synthetic house-number archives in the official layout")
    if not full:
        return
    from svhn_api.data.synthetic_archives import synth

    d = _defaults(synth)
    q.add_argument("--out", required=True, help="folder for train/extra/test.tar.gz")
    q.add_argument("--train", type=int, default=d["train"], help="photos in train.tar.gz (default %(default)s)")
    q.add_argument("--extra", type=int, default=d["extra"], help="photos in extra.tar.gz (default %(default)s)")
    q.add_argument("--test", type=int, default=d["test"], help="photos in test.tar.gz (default %(default)s)")
    q.add_argument("--seed", type=int, default=d["seed"], help="random seed: the same seed gives the same archives")
    q.add_argument("--jobs", type=int, default=d["jobs"], help="parallel workers (default: all cores)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_synth)


def _add_train(sub: Any) -> None:
    from svhn_api.models.kinds import ARCHITECTURES
    from svhn_api.training.settings import TrainSettings

    t = TrainSettings()   # the defaults' owner
    q = sub.add_parser("train", help="train a model on a prepared store")
    q.add_argument("--data", required=True, help="prepared store (.h5)")
    q.add_argument("--model", choices=ARCHITECTURES, default=t.model, help="architecture")
    q.add_argument("--name", help="the run's folder: runs/<name> in $SVHN_RUNS (default ./runs; name default: "
                   "the model name). Rerunning the same command resumes the run")
    q.add_argument("--fresh", action="store_true",
                   help="start the run over: forget the checkpoint and card in runs/<name> instead of resuming")
    q.add_argument("--epochs", type=_positive(int), default=t.epochs,
                   help="at most this many epochs (default %(default)s)")
    q.add_argument("--batch-size", type=_positive(int), default=t.batch_size,
                   help="images per step (default: the architecture's own)")
    q.add_argument("--minutes", type=_positive(float), default=t.minutes, help="stop after this much training time")
    q.add_argument("--devices", default=t.devices, metavar="all|N",
                   help="data-parallel over all (or N) devices (JAX, or TensorFlow's MirroredStrategy; several "
                        "machines: KERAS_DISTRIBUTION_* with JAX, see the README): --batch-size is then per device, "
                        "and the learning rate is scaled by the device count (default: one device)")
    q.add_argument("--loss", choices=("sum", "masked"), default=t.loss,
                   help="sum of the six cross-entropies, or the paper's (no gradient for absent digits)")
    q.add_argument("--seed", type=int, default=t.seed, help="random seed of initialisation, shuffling and augmentation")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_train)


def _add_evaluate(sub: Any) -> None:
    q = sub.add_parser("evaluate", help="accuracy of a model on a split of a prepared store")
    q.add_argument("--model", default=None,
                   help="model folder or .keras file (default: $SVHN_MODEL, else the shipped model)")
    q.add_argument("--data", required=True, help="prepared store (.h5)")
    q.add_argument("--split", choices=("train", "validation", "test"), default="test",
                   help="which rows to evaluate (default %(default)s)")
    q.add_argument("--samples", type=_positive(int), default=None,
                   help="evaluate this many random rows (e.g. 64; default: the whole split)")
    q.add_argument("--seed", type=int, default=0, help="random seed of the --samples draw")
    q.add_argument("--record", action="store_true", help="append the result to the model's card.json")
    q.add_argument("--whole-photo", action="store_true",
                   help="also read each row's original photo whole, the localizer finding the number: whole-photo "
                        "accuracy and the localizer's mean IoU (the archives must be beside the store)")
    q.add_argument("--localizer", default=None,
                   help="localizer for --whole-photo (default: $SVHN_LOCALIZER, else the shipped one)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_evaluate)


def _add_predict(sub: Any) -> None:
    q = sub.add_parser("predict", help="read the house number in one or more images",
                       epilog="Every image that can be read is read; each one that cannot is reported on stderr "
                       "(error: <image>: why). Exit status: 0 all read, 1 some could not be read, 2 none could be "
                       "read, or a usage error.")
    q.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    q.add_argument("--box", type=_box, help="the number's region left,top,width,height in pixels (applied to "
                   "every image; a box partly outside an image is clipped, with a warning); without it the "
                   "localizer finds the number in the whole photo")
    q.add_argument("--fast", action="store_true",
                   help="the fast path: our reader, localizer and digit classifier alone, without the scene-text "
                   "models (several times faster; worse on numbers small in the photo)")
    _model_options(q, "localizer model folder for photos without --box (default: $SVHN_LOCALIZER, else the "
                   "shipped one when there is one)")
    q.set_defaults(func=cmd_predict)


def _add_read(sub: Any) -> None:
    q = sub.add_parser("read", help="read many photos (files, folders, globs, .tar.gz archives) into a CSV or "
                       "JSON Lines file; rerun to resume",
                       epilog="One row per photo: path, number, confidence, unsure, box, error, pipeline (fast; "
                       "full: read again with --thorough, its confidence the full pipeline's calibrated one). Photos "
                       "already in --out are skipped, so the same command resumes an interrupted run. A damaged "
                       "archive is a row too; an input with no photo (not found, a folder without photos) is named "
                       "on stderr. Exit status: 0 all read, 1 some could not be read (their rows say why) or an "
                       "input held no photo, 2 nothing to read or a usage error.")
    q.add_argument("inputs", nargs="+", help="image files, folders (searched recursively), glob patterns "
                   "(quote them) or .tar.gz archives of images")
    q.add_argument("--out", required=True, help="results file: .csv, or .jsonl for JSON Lines (appended to)")
    q.add_argument("--format", choices=("csv", "jsonl"), default=None, help="default: from --out's suffix")
    q.add_argument("--batch-size", type=_positive(int), default=256, help="photos per model batch (default "
                   "%(default)s)")
    q.add_argument("--workers", type=_positive(int), default=None,
                   help="decoding threads (default: one per core)")
    q.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="read the batches on this Dask cluster's workers (they must see the photo files; needs "
                        "the 'cluster' extra); the rows are the same as a local run's")
    q.add_argument("--thorough", action="store_true",
                   help="read the photos the fast path is unsure of again with the full pipeline (the scene-text "
                   "models too): slower, right more often on numbers small in the photo")
    _model_options(q, "localizer model folder (default: $SVHN_LOCALIZER, else the shipped one)")
    q.set_defaults(func=cmd_read)


def _add_export(sub: Any) -> None:
    q = sub.add_parser("export", help="write a model's ONNX sibling (model.onnx), checked equal to model.keras",
                       epilog="Needs TensorFlow and tf2onnx (pip install 'svhn-reader[train]'). Training writes the "
                       "sibling itself; export a run trained before, or one whose model.keras changed. With a "
                       "current sibling and onnxruntime installed, reading runs on ONNX Runtime ($SVHN_RUNTIME: "
                       "auto, onnx or keras).")
    q.add_argument("models", nargs="+", help="model folders (each with model.keras and card.json)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)
    q.set_defaults(func=cmd_export)



def _port(s: str) -> int:
    if not (s.isdigit() and 0 < int(s) < 65536):
        raise argparse.ArgumentTypeError(f"{s!r}: give a port number from 1 to 65535")
    return int(s)


def _add_serve(sub: Any, full: bool = True) -> None:
    import os

    q = sub.add_parser("serve", help="a JSON HTTP API for programs: POST /read a photo, get its reading",
                       epilog="Endpoints: POST /read, GET /health, GET /models, GET /openapi.json, GET /docs (every "
                       "field). The limits apply per worker; $SVHN_SERVE_MAX_BYTES, _MAX_PHOTOS, _QUEUE, _TIMEOUT and "
                       "_THREADS set their defaults; the models are the ones predict reads with ($SVHN_MODEL, ...).")
    if not full:   # its defaults come from modules that load numpy and Pillow
        return
    defaults = _serve_limits()
    q.add_argument("--host", default=os.environ.get("SVHN_SERVE_HOST", "127.0.0.1"),
                   help="address to listen on (default: $SVHN_SERVE_HOST, else %(default)s; 0.0.0.0 for every "
                   "interface, as in a container)")
    q.add_argument("--port", type=_port, default=os.environ.get("PORT", "8000"),
                   help="port (default: $PORT, else 8000)")
    q.add_argument("--workers", type=_positive(int), default=1,
                   help="worker processes, each with its own models (default 1); a worker that dies is replaced")
    q.add_argument("--max-bytes", type=_positive(int), default=defaults.max_bytes,
                   help="largest request body, every photo together (default %(default)s)")
    q.add_argument("--max-photos", type=_positive(int), default=defaults.max_photos,
                   help="photos per request (default %(default)s)")
    q.add_argument("--queue", type=_positive(int), default=defaults.queue,
                   help="requests admitted at once per worker, reading or waiting; beyond them the answer is 503 "
                   "with Retry-After (default %(default)s)")
    q.add_argument("--timeout", type=_positive(float), default=defaults.timeout,
                   help="seconds from a request's arrival to its answer; beyond them 504 (default %(default)s)")
    q.add_argument("--threads", type=_positive(int), default=defaults.threads,
                   help="readings at once per worker (each model call already uses every core; default %(default)s)")
    q.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info",
                   help="server log detail (info: one line per request; default %(default)s)")
    q.set_defaults(func=cmd_serve)


def _serve_limits() -> Any:
    """The serve limits' defaults ($SVHN_SERVE_*); a bad variable is a usage error naming it."""
    from svhn_api.serve.limits import Limits

    try:
        return Limits.from_env()
    except SVHNError as e:
        raise SystemExit(f"error: {e}") from None


def _model_options(q: argparse.ArgumentParser, localizer_help: str) -> None:
    """The reader, the localizer (or none), the digit classifier (or none) and --json: the same for predict and
    read."""
    q.add_argument("--localizer", default=None, help=localizer_help)
    q.add_argument("--whole-image", action="store_true", help="read the whole image, without the localizer")
    q.add_argument("--no-digits", action="store_true",
                   help="the reader alone, without the digit classifier's check of each digit (faster, less accurate)")
    q.add_argument("--model", default=None,
                   help="model folder or .keras file (default: $SVHN_MODEL, else the shipped model)")
    q.add_argument("--json", action="store_true", help=JSON_HELP)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one command; returns the exit status (2: a user error, printed as ``error: ...`` on stderr)."""
    argv = _negative_boxes(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog, next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    try:
        return args.func(args)
    except (SVHNError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished parts are kept; run the same command again to continue", file=sys.stderr)
        return 130
