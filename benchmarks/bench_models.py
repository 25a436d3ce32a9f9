"""Training throughput of the three architectures, and predict() latency of the shipped compact model.

    python -m benchmarks.bench_models                 # all of it
    python -m benchmarks.bench_models --skip-predict  # training throughput only
    python -m benchmarks.bench_models --variants      # also compact input-size / width variants

Training throughput: samples/s of the real training step (``trainer.train_on_batch``: forward, loss,
backward, optimizer update, with the backend's default compilation, as ``train`` runs it) on in-memory
uint8 batches at each architecture's default batch size and
native input (capstone: 32x32x1; compact, deep: 64x64x3), after warm-up steps; median of several runs.
Pipelines: ``predict(path)`` one photo at a time with the full pipeline (scene-text models) and the fast path,
interleaved, on the real test photos (drawn scenes without them).
Prediction: ``svhn_api.inference.predict`` on one 120x60 PNG file (decode, crop, model, joint decoding), warm,
median of many calls; and images/s for a list of 256 in-memory images; once with the models on Keras, then on
ONNX Runtime (their ONNX siblings), in the same process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api.backend import import_keras

RUNTIMES = ("keras", "onnx")   # $SVHN_RUNTIME for each pass of the predict benchmark


def train_throughput(build, name, input_shape, batch_size, warm=3, steps=5, runs=5, jit=None,
                     augment=False) -> float:
    """Samples/s of ``trainer.train_on_batch`` on one in-memory batch (what ``train`` calls each step)."""
    from svhn_api.training.train import make_trainer

    trainer = make_trainer(build(input_shape), name, "sum", augment=augment, jit=jit)
    x, y = _batch(batch_size, input_shape)
    for _ in range(warm):
        float(trainer.train_on_batch(x, y))
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(steps):
            v = trainer.train_on_batch(x, y)
        float(v)
        rates.append(batch_size * steps / (time.perf_counter() - t))
    return statistics.median(rates)


def step_against_tape(arch: str, rounds: int = 8) -> tuple[float, float]:
    """Samples/s of the backend-neutral step (``train_on_batch``) and of a hand-written TensorFlow step
    (``GradientTape`` + fused cross-entropy, what ``train`` ran before 0.2) on the same architecture,
    interleaved round by round in one process so that the machine's drift hits both alike."""
    import tensorflow as tf

    from svhn_api.models import architectures as models
    from svhn_api.models import kinds
    from svhn_api.training.schedule import make_optimizer
    from svhn_api.training.train import make_trainer

    shape = (32, 32, 1) if arch == "capstone" else (64, 64, 3)
    batch = kinds.recipe(arch).batch_size
    x, y = _batch(batch, shape)
    trainer = make_trainer(models.build(arch, shape), arch, augment=False)
    net = models.build(arch, shape)
    logits = models.keras.Model(net.inputs, net.get_layer("logits").output)
    optimizer = make_optimizer(kinds.recipe(arch))
    optimizer.build(logits.trainable_variables)

    @tf.function
    def tape_step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            out = logits(images, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(labels, tf.int32), out)
            loss = tf.reduce_mean(tf.reduce_sum(ce, axis=1))
        grads = tape.gradient(loss, logits.trainable_variables)
        optimizer.apply_gradients(zip(grads, logits.trainable_variables, strict=True))
        return loss

    calls = {"neutral": trainer.train_on_batch, "tape": lambda a, b: tape_step(tf.constant(a), tf.constant(b))}
    rates: dict[str, list[float]] = {k: [] for k in calls}
    for call in calls.values():
        for _ in range(3):
            float(call(x, y))
    for _ in range(rounds):
        for k, call in calls.items():
            t = time.perf_counter()
            for _ in range(4):
                v = call(x, y)
            float(v)
            rates[k].append(batch * 4 / (time.perf_counter() - t))
    return statistics.median(rates["neutral"]), statistics.median(rates["tape"])


def _batch(batch_size: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from svhn_api.labels import LABEL_DTYPE, LABEL_WIDTH, NO_DIGIT

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, *shape), dtype=np.uint8)
    y = np.full((batch_size, LABEL_WIDTH), NO_DIGIT, LABEL_DTYPE)
    y[:, 0] = 2
    y[:, 1:3] = rng.integers(0, 10, (batch_size, 2))
    return x, y


def bench_training(variants: bool, runs: int) -> dict[str, float]:
    from svhn_api.models import architectures as models
    from svhn_api.models import kinds

    # (label, architecture, builder, stored shape, steps per run, augmentation in the step)
    rows = [("compact", "compact", models.compact, (64, 64, 3), 5, False),
            ("compact + augmentation", "compact", models.compact, (64, 64, 3), 5, True),
            ("capstone", "capstone", models.capstone, (32, 32, 1), 10, False),
            ("deep", "deep", models.deep, (64, 64, 3), 3, False)]
    if variants:
        def variant(**kw):
            return lambda shape: models.compact(shape, **kw)
        three = ((32, 1), (64, 2), (64, 1), (96, 2), (96, 1), (128, 2), (128, 1))
        rows += [(f"compact size={s}", "compact", variant(size=s), (64, 64, 3), 5, False) for s in (54, 40)]
        rows += [("compact 3x3 map", "compact", variant(stages=three, squeeze=48, hidden=160), (64, 64, 3), 5, False),
                 ("compact XLA", "compact", models.compact, (64, 64, 3), 5, False)]
    out = {}
    print(f"{'model':<24}{'params':>12}{'batch':>7}{'samples/s':>12}")
    for label, arch, build, shape, steps, augment in rows:
        batch = kinds.recipe(arch).batch_size
        rate = train_throughput(build, arch, shape, batch, steps=steps, runs=runs,
                                jit=True if "XLA" in label else None, augment=augment)
        out[label] = rate
        print(f"{label:<24}{build(shape).count_params():>12,}{batch:>7}{rate:>12.1f}", flush=True)
    print(f"compact/deep training throughput ratio: {out['compact'] / out['deep']:.1f}x")
    return out


def _latency(call: Any, runs: int) -> tuple[float, float]:
    """Median and 90th percentile milliseconds of ``call()`` after 5 warm-up calls."""
    for _ in range(5):
        call()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * len(times))]


def bench_predict(model: str | None, runs: int, localizer: str | None, detector: str | None = None) -> None:
    """``predict`` on one PNG file: with a box (the reader alone, as before 0.2), and whole with the localizer
    when there is one (two looks + the reader; and with the search, 13 windows x 2 looks + 14 readings), each
    with the digit classifier joined and without it (the same run's baseline), and led by a detector when one
    is given or shipped; then batched throughput."""
    from PIL import Image

    from svhn_api import paths
    from svhn_api.inference.predict import predict

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (60, 120, 3), dtype=np.uint8))
    finder = localizer or paths.default_localizer()
    spotter = detector or paths.default_detector()
    joiners = [None, False] if paths.default_digits() is not None else [False]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "one.png"
        img.save(path)
        for digits in joiners:
            how = "the reader alone" if digits is False else "the reader and the digit classifier"
            med, p90 = _latency(lambda j=digits: predict(str(path), model=model, localizer=False, digits=j,
                                                         pipeline="fast"), runs)
            print(f"predict() one 120x60 PNG file read whole, no localizer, {how}, warm, end to end: median "
                  f"{med:.2f} ms, p90 {p90:.2f} ms over {runs} calls")
        if finder is not None:   # a noise photo reads unsure, so predict searches: the worst case
            for led in ([spotter, False] if spotter is not None else [False]):
                for digits in joiners:
                    for search, how in ((False, "one box (search=False)"), (True, "searching (unsure: always here)")):
                        med, p90 = _latency(lambda s=search, d=led, j=digits: predict(
                            str(path), model=model, localizer=finder, detector=d, search=s, digits=j,
                            pipeline="fast"), runs)
                        who = (f"the detector ({led}) and the localizer" if led else "the localizer") + (
                            ", the reader alone" if digits is False else ", the reader and the digit classifier")
                        print(f"predict() one 120x60 PNG file, whole photo with {who} ({finder}), {how}, warm, "
                              f"end to end: median {med:.2f} ms, p90 {p90:.2f} ms over {runs} calls")
    batch = [rng.integers(0, 256, (60, 120, 3), dtype=np.uint8) for _ in range(256)]
    predict(batch, model=model, localizer=False, digits=False, pipeline="fast")
    rates = []
    for _ in range(5):
        t = time.perf_counter()
        predict(batch, model=model, localizer=False, digits=False, pipeline="fast")
        rates.append(len(batch) / (time.perf_counter() - t))
    print(f"predict() batched, list of {len(batch)} 120x60 arrays, no localizer, the reader alone: median "
          f"{statistics.median(rates):.0f} images/s")


def bench_pipelines(passes: int) -> None:
    """``predict(path)`` one photo at a time, warm, with the full pipeline and the fast path interleaved photo by
    photo (the same run, the same photos): on the real test photos when the real sample is beside the checkout,
    else on drawn scenes. Median and p90 over every call."""
    from svhn_api import paths
    from svhn_api.inference.predict import default_pipeline, predict

    if default_pipeline() != "full":
        print("full pipeline: skipped (the scene-text models are not installed)")
        return
    real = paths.real_svhn_dir() / "images" / "test"
    with tempfile.TemporaryDirectory() as d:
        if real.is_dir():
            photos, what = sorted(real.glob("*.png")), f"real SVHN test photos ({len(list(real.glob('*.png')))})"
        else:
            from tests.scene_text_fixtures import SCENES, scene

            photos = []
            for name in SCENES:
                scene(name).save(Path(d) / f"{name}.png")
                photos.append(Path(d) / f"{name}.png")
            what = f"drawn scenes ({len(photos)})"
        times: dict[str, list[float]] = {"full": [], "fast": []}
        for p in photos[:5]:   # warm-up: models loaded, sessions made
            predict(str(p), pipeline="full")
            predict(str(p), pipeline="fast")
        for _ in range(passes):
            for p in photos:
                for pipeline in ("fast", "full"):
                    t = time.perf_counter()
                    predict(str(p), pipeline=pipeline)  # type: ignore[arg-type]
                    times[pipeline].append((time.perf_counter() - t) * 1000)
    for pipeline, ms in times.items():
        ms.sort()
        print(f"predict(path) one photo at a time, {pipeline} {'pipeline' if pipeline == 'full' else 'path'}, warm, "
              f"{what} x {passes}: median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * len(ms))]:.1f} ms, "
              f"mean {statistics.mean(ms):.1f} ms")
    ratio = statistics.median(times["full"]) / statistics.median(times["fast"])
    print(f"full / fast, medians of the same run: {ratio:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", action="store_true", help="also time compact variants")
    p.add_argument("--skip-predict", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--passes", type=int, default=3, help="passes over the photos of the full-pipeline latency")
    p.add_argument("--model", default=None, help="model for the predict benchmark (default: the shipped one)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per training figure (median)")
    p.add_argument("--localizer", default=None, help="localizer for the whole-photo latency (default: the "
                   "shipped one, when there is one)")
    p.add_argument("--detector", default=None, help="detector for the whole-photo latency (default: the "
                   "shipped one, when there is one)")
    a = p.parse_args()
    keras = import_keras()  # quietly, before anything imports TensorFlow
    print(f"os.cpu_count() = {os.cpu_count()}; Keras {keras.__version__}, backend {keras.backend.backend()}")
    if not a.skip_train:
        bench_training(a.variants, a.runs)
        if keras.backend.backend() == "tensorflow":
            for arch in ("compact", "capstone"):
                neutral, tape = step_against_tape(arch)
                print(f"{arch}: backend-neutral step {neutral:.0f} samples/s, TensorFlow GradientTape step "
                      f"{tape:.0f} samples/s (interleaved, same process): ratio {neutral / tape:.2f}")
    if not a.skip_predict:
        bench_pipelines(a.passes)
        for runtime in RUNTIMES:   # the same run: Keras first (the baseline), then ONNX Runtime
            os.environ["SVHN_RUNTIME"] = runtime
            print(f"-- models on {runtime} --")
            bench_predict(a.model, runs=200, localizer=a.localizer, detector=a.detector)


if __name__ == "__main__":
    main()
