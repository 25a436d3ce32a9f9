"""Training throughput of one architecture on whatever devices the Keras backend sees (a GPU machine, or this one).

    python -m benchmarks.bench_train --data STORE --model deep
    KERAS_BACKEND=jax python -m benchmarks.bench_train --data STORE --model deep --batch-sizes 32,256 \
        --precisions float32,mixed_bfloat16 --train-seconds 60

Two figures, both printed with the machine's core count and the backend's devices:

- step: samples/s of the training step alone (``bench_models.train_throughput``: forward, loss, backward,
  update on one in-memory batch, compiled as ``train`` compiles it), median of several runs, per batch size
  and precision (a Keras dtype policy);
- end to end: ``train()`` itself on the store for ``--train-seconds`` (streaming HDF5 batches, augmentation,
  validation at each epoch end, checkpoints), the recipe's batch size unless ``--train-batch`` says
  otherwise: the rows it trained on divided by its training seconds, compilation included.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from benchmarks.bench_models import train_throughput
from svhn_api.backend import import_keras
from svhn_api.models.folder import ModelFolder


def step_rates(model: str, batch_sizes: list[int], precisions: list[str], runs: int) -> None:
    from svhn_api.models import architectures as models

    keras = import_keras()
    shape = (32, 32, 1) if model == "capstone" else (64, 64, 3)
    for precision in precisions:
        keras.config.set_dtype_policy(precision)
        for batch in batch_sizes:
            rate = train_throughput(lambda s: models.build(model, s), model, shape, batch, steps=10, runs=runs)
            print(f"step  {model:<9} {precision:<15} batch {batch:>5}: {rate:>10,.0f} samples/s", flush=True)
    keras.config.set_dtype_policy("float32")


def end_to_end(data: str, model: str, seconds: float, batch_size: int | None, devices: str | None) -> None:
    from svhn_api import train

    with tempfile.TemporaryDirectory() as root:
        summary = train(data, model=model, name="bench", root=root, epochs=10_000, minutes=seconds / 60,
                        batch_size=batch_size, progress=False, patience=10_000, checkpoint_minutes=60,
                        devices=devices)
        record = json.loads(ModelFolder(Path(root) / "bench").card.read_text())["training"]
    config, later = record["config"], record["history"][1:]   # epochs after the first: compiled already
    steps, secs, batch = summary.steps or 0, summary.wall_seconds or 0.0, config["batch_size"]
    if later:
        rate = (later[-1]["step"] - record["history"][0]["step"]) * batch / sum(h["seconds"] for h in later)
        print(f"train() {model}: epochs 2-{len(later) + 1}, {rate:,.0f} samples/s (validation included)")
    print(f"train() {model} batch {batch} devices {config.get('devices') or 1}: {steps} steps in {secs:.1f} s = "
          f"{steps * batch / secs:,.0f} samples/s end to end, compilation and validation included "
          f"(status: {summary.status}; best val accuracy {summary.best_val_accuracy})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="a prepared store for the end-to-end run (none: step figures only)")
    p.add_argument("--model", default="deep")
    p.add_argument("--batch-sizes", default="32", help="comma-separated, for the step figures")
    p.add_argument("--precisions", default="float32", help="comma-separated Keras dtype policies")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--train-seconds", type=float, default=60.0)
    p.add_argument("--train-batch", type=int, default=None, help="batch of the end-to-end run (recipe's)")
    p.add_argument("--devices", default=None, help="train(devices=...) of the end-to-end run")
    a = p.parse_args()
    keras = import_keras()
    print(f"os.cpu_count() = {os.cpu_count()}; Keras {keras.__version__}, backend {keras.backend.backend()}; "
          f"devices: {keras.distribution.list_devices()}", flush=True)
    step_rates(a.model, [int(b) for b in a.batch_sizes.split(",")], a.precisions.split(","), a.runs)
    if a.data:
        end_to_end(a.data, a.model, a.train_seconds, a.train_batch, a.devices)


if __name__ == "__main__":
    main()
