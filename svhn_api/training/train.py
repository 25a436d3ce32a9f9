"""train(): fit one of the architectures on a prepared store, resumably.

- Batches stream from the HDF5 store (``store.iter_batches``) through ``tf.data``; the file is never read
  whole. Each epoch's order comes from ``seed + epoch`` and each batch's augmentation from stateless ops
  seeded with ``(seed, epoch, batch)``, so a run is a pure function of its seed and can be resumed exactly.
- Augmentation (default on for 64x64x3 crops): a random shift of up to +-5 px (with the model's centre
  54x54 crop this is the papers' random crop), rotation up to +-8 degrees, scale 0.9-1.1, and colour
  jitter (brightness, contrast, saturation, per-channel gain). Images stay uint8.
- A checkpoint (weights, optimizer state, data position, history, best weights) is written atomically
  every ``checkpoint_minutes``, at each epoch end, on Ctrl-C / SIGTERM and at the end. Running the same
  call again continues from it; a finished run answers with its summary. ``fresh=True`` starts over.
- Early stopping on validation whole-number accuracy (``patience`` epochs), keeping the best weights.
- TensorBoard logs in ``<folder>/logs``; a tqdm bar shows loss and the last validation accuracy.
- ``minutes`` is the training-time budget of the whole run, across resumes; the learning-rate schedule
  (cosine for compact) then decays over whichever ends first, the planned steps or the budget.

Output: ``<root>/<name>/model.keras`` (best weights) and ``card.json``.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from svhn_api.atomic import atomic_path
from svhn_api.data import store
from svhn_api.errors import DataError, ModelError
from svhn_api.models import card as cards

DEFAULT_ROOT = Path("artifacts/models")
CHECKPOINT = "checkpoint.h5"
LOSSES = ("sum", "masked")
FINAL = ("complete", "early stopped", "time limit")  # with no checkpoint left, a rerun has nothing to do
MAX_SHIFT, MAX_ROTATE_DEG, SCALE = 5.0, 8.0, (0.9, 1.1)
WARMUP_STEPS = 300


# ----------------------------------------------------------------------------------------------- data

def augment_batch(images: Any, seed: Any) -> Any:
    """Random shift/rotation/scale and colour jitter of a uint8 batch ``(B, H, W, 3)``; ``seed``: 2 ints."""
    import tensorflow as tf

    shape = tf.shape(images)
    b, h, w = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 8)

    def uni(i: int, lo: float, hi: float, n: Any = None) -> Any:
        return tf.random.stateless_uniform([b] if n is None else [b, n], s[i], lo, hi)

    tx, ty = uni(0, -MAX_SHIFT, MAX_SHIFT), uni(1, -MAX_SHIFT, MAX_SHIFT)
    theta = uni(2, -MAX_ROTATE_DEG, MAX_ROTATE_DEG) * (math.pi / 180)
    scale = uni(3, *SCALE)
    # output pixel (x, y) samples the input at centre + R(theta) / scale * ((x, y) - centre) - shift
    cx, cy = (w - 1) / 2, (h - 1) / 2
    c, d = tf.cos(theta) / scale, tf.sin(theta) / scale
    transforms = tf.stack([c, -d, cx - c * cx + d * cy - tx, d, c, cy - d * cx - c * cy - ty,
                           tf.zeros_like(c), tf.zeros_like(c)], axis=1)
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32), transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")
    gray = tf.reduce_mean(x, axis=-1, keepdims=True)
    x = gray + (x - gray) * uni(4, 0.6, 1.4)[:, None, None, None]                      # saturation
    x = x * uni(5, 0.85, 1.15, 3)[:, None, None, :]                                    # colour cast
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = mean + (x - mean) * uni(6, 0.7, 1.3)[:, None, None, None] + uni(7, -30.0, 30.0)[:, None, None, None]
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)


def epoch_dataset(data: str | Path, image_shape: tuple[int, ...], batch_size: int, seed: int, epoch: int,
                  skip: int = 0, augment: bool = False, limit: int | None = None) -> Any:
    """The batches of one training epoch (``skip`` first ones left out when resuming), augmented."""
    import tensorflow as tf

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        batches = store.iter_batches(data, "train", batch_size, shuffle=True, seed=seed * 100_003 + epoch,
                                     limit=limit)
        for i, b in enumerate(batches):
            if i >= skip:
                yield b["images"], b["labels"]

    sig = (tf.TensorSpec((None, *image_shape), tf.uint8), tf.TensorSpec((None, 6), tf.int8))
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    if augment:
        ds = ds.enumerate(start=skip).map(
            lambda i, xy: (augment_batch(xy[0], tf.stack([tf.cast(seed, tf.int64), epoch * 1_000_003 + i])),
                           xy[1]))  # sequential: cheap next to a training step, and overlapped by prefetch
    return ds.prefetch(2)


def steps_per_epoch(data: str | Path, batch_size: int, limit: int | None = None) -> int:
    n = store.count(data, "train")
    if limit is not None:
        n = min(n, limit)
    return math.ceil(n / batch_size)


# ------------------------------------------------------------------------------------------ the model

def sequence_loss(labels: Any, logits: Any, kind: str = "sum") -> Any:
    """Per-example loss ``(B,)``: the six cross-entropies summed, or (``masked``, the paper's) the length
    and only the digit positions within the true length (no gradient for absent digits)."""
    import tensorflow as tf

    y = tf.cast(labels, tf.int32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=tf.cast(logits, tf.float32))
    if kind == "masked":
        keep = tf.range(6)[None, :] <= y[:, :1]   # column 0 (length) always; digit i when i <= length
        ce = ce * tf.cast(keep, ce.dtype)
    elif kind != "sum":
        raise ValueError(f"loss {kind!r}: choose one of {', '.join(LOSSES)}")
    return tf.reduce_sum(ce, axis=1)


def make_optimizer(recipe: Any, lr: float | None = None) -> Any:
    import keras

    rate = recipe.lr if lr is None else lr
    if recipe.optimizer == "adagrad":
        return keras.optimizers.Adagrad(rate, initial_accumulator_value=0.1)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, weight_decay=recipe.weight_decay or None)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=recipe.weight_decay)
    raise ValueError(f"optimizer {recipe.optimizer!r}")


def learning_rate(recipe: Any, peak: float, step: int, progress: float) -> float:
    """Rate at global ``step``; ``progress`` (0-1) is how far the run is (steps or time, whichever is further)."""
    if recipe.schedule == "constant":
        return peak
    if recipe.schedule == "step":
        return peak * recipe.decay ** (step // recipe.decay_steps)
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return peak * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_train_step(model: Any, optimizer: Any, loss: str = "sum", jit: bool = False) -> Callable:
    """A compiled step ``(images uint8, labels int8) -> mean loss`` that updates ``model`` in place.

    ``jit`` (XLA) is off by default: on CPU, TensorFlow's oneDNN kernels run these models several times
    faster than XLA (6x for compact, whose depthwise convolutions XLA handles poorly).
    """
    import keras
    import tensorflow as tf

    logits_model = keras.Model(model.inputs, model.get_layer("logits").output)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            mean = tf.reduce_mean(sequence_loss(y, logits_model(x, training=True), loss))
            total = mean + tf.add_n(model.losses) if model.losses else mean
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return mean

    return step


def make_infer(model: Any) -> Callable:
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def whole_number_accuracy(infer: Callable, data: str | Path, split: str, limit: int | None = None,
                          batch_size: int = 256, none_terms: bool = True) -> tuple[float, int]:
    from svhn_api.inference.decode import decode_batch

    right = n = 0
    for b in store.iter_batches(data, split, batch_size, limit=limit):
        rows, _ = decode_batch(infer(b["images"]).numpy(), none_terms)
        right += int(np.all(rows == b["labels"], axis=1).sum())
        n += len(rows)
    return (right / n if n else float("nan")), n


def _scalar(tag: str, value: float) -> None:
    """A TensorBoard scalar through ``tf.summary.write`` (works without the tensorboard package)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"
    tf.summary.write(tag, tf.constant(float(value), tf.float32), metadata=meta)


# ---------------------------------------------------------------------------------------- checkpoints

def _save_checkpoint(path: Path, model: Any, optimizer: Any, best: list[np.ndarray] | None,
                     state: dict) -> None:
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for group, values in (("model", [v.numpy() for v in model.variables]),
                              ("optimizer", [v.numpy() for v in optimizer.variables]),
                              ("best", best or [])):
            g = f.create_group(group)
            for i, v in enumerate(values):
                g.create_dataset(str(i), data=v)
        f.attrs["state"] = json.dumps(state)


def _load_checkpoint(path: Path, model: Any, optimizer: Any) -> tuple[dict, list[np.ndarray] | None]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            state = json.loads(f.attrs["state"])
            for group, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
                g = f[group]
                if len(g) != len(variables):
                    raise ModelError(f"{path}: checkpoint does not match this model ({len(g)} vs "
                                     f"{len(variables)} {group} variables); pass fresh=True to start over")
                for i, v in enumerate(variables):
                    v.assign(g[str(i)][()])
            best = [f["best"][str(i)][()] for i in range(len(f["best"]))] or None
    except (OSError, KeyError) as e:
        raise ModelError(f"{path}: unreadable checkpoint ({e}); delete it or pass fresh=True") from e
    return state, best


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """``kill`` (SIGTERM) becomes KeyboardInterrupt so that the checkpoint is written before exiting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------------------------------- train()

def train(data: str | Path, model: str = "compact", name: str | None = None, epochs: int = 30,
          batch_size: int | None = None, seed: int = 0, minutes: float | None = None, loss: str = "sum",
          progress: bool = True, *, root: str | Path = DEFAULT_ROOT, augment: bool | None = None,
          patience: int = 5, checkpoint_minutes: float = 5.0, limit: int | None = None,
          val_limit: int | None = None, lr: float | None = None, fresh: bool = False,
          jit: bool = False, log_every: int = 50, stop_after: int | None = None) -> dict:
    """Train architecture ``model`` on the store ``data`` into ``<root>/<name or model>/``; returns a summary.

    ``limit`` / ``val_limit`` cap the train / validation rows used. ``stop_after`` (for tests) interrupts
    the run after that many steps of this call, as Ctrl-C would. Never reads the test split.
    """
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from svhn_api.models import architectures as models

    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if model not in models.RECIPES:
        raise ValueError(f"model {model!r}: choose one of {', '.join(models.ARCHITECTURES)}")
    info = store.describe(data)
    if info.counts.get("train", 0) == 0:
        raise DataError(f"{data}: the train split is empty; prepare a store with training images")
    recipe = models.RECIPES[model]
    batch_size = batch_size or recipe.batch_size
    augment = (tuple(info.image_shape) == (64, 64, 3)) if augment is None else augment
    if augment and info.image_shape[-1] != 3:
        raise ValueError(f"augment=True needs an RGB store; {data} holds {info.image_shape} ({info.crop} crop)")
    folder = Path(root) / (name or model)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / CHECKPOINT
    data_facts = cards.data_facts(data)
    config = {"architecture": model, "data_sha256": data_facts["sha256"], "loss": loss,
              "batch_size": batch_size, "seed": seed, "augment": augment, "limit": limit,
              "val_limit": val_limit, "lr": lr}
    old_card = cards.read(folder)
    if fresh:
        ckpt.unlink(missing_ok=True)
        (folder / cards.CARD).unlink(missing_ok=True)
        old_card = None
    elif old_card and old_card.get("training", {}).get("config") not in (None, config):
        raise ModelError(f"{folder}: holds a run with other settings ({old_card['training']['config']}); "
                         "choose another name or pass fresh=True (CLI: delete the folder) to start over")
    elif old_card and not ckpt.exists() and old_card.get("training", {}).get("status") in FINAL:
        return _summary(folder, old_card, resumed=False, note="already trained; nothing to do")

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    net = models.build(model, info.image_shape)
    optimizer = make_optimizer(recipe, lr)
    step_fn = make_train_step(net, optimizer, loss, jit)
    infer = make_infer(net)
    peak = recipe.lr if lr is None else lr
    per_epoch = steps_per_epoch(data, batch_size, limit)
    planned = per_epoch * epochs
    n_val = min(info.counts.get("validation", 0), val_limit or 1 << 62)

    state: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "history": [],
                             "best_accuracy": None, "best_epoch": None, "bad_epochs": 0, "status": "training",
                             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sessions": 0}
    best: list[np.ndarray] | None = None
    resumed = ckpt.exists()
    if resumed:
        state, best = _load_checkpoint(ckpt, net, optimizer)
    budget = minutes * 60 if minutes is not None else math.inf
    if resumed and state["seconds"] >= budget:
        return _summary(folder, cards.read(folder) or {}, resumed=True,
                        note=f"the {minutes} minute budget is used up; give more minutes to continue")
    state["sessions"] += 1
    writer = tf.summary.create_file_writer(str(folder / "logs"))
    t_session, t_ckpt, steps_here = time.perf_counter(), time.perf_counter(), 0
    seconds0 = state["seconds"]

    def elapsed() -> float:
        return seconds0 + time.perf_counter() - t_session

    def snapshot() -> None:
        state["seconds"] = round(elapsed(), 2)
        _save_checkpoint(ckpt, net, optimizer, best, state)
        write_card()

    def write_card() -> None:
        cards.update(folder, lambda old: _card(folder, old, net, model, info, data_facts, config, state, recipe,
                                               epochs, minutes, patience))

    def finish(status: str) -> dict:
        nonlocal best
        from svhn_api.models import io as model_io

        state["status"] = status
        final = status in ("complete", "early stopped")
        if not final:
            snapshot()   # the last weights first: a second Ctrl-C during validation loses nothing
            if state["batch"] and n_val:   # the budget ended inside an epoch: are the last weights the best?
                val, _ = whole_number_accuracy(infer, data, "validation", val_limit, none_terms=loss == "sum")
                if state["best_accuracy"] is None or val > state["best_accuracy"]:
                    state.update(best_accuracy=val, best_epoch=round(state["epoch"] + state["batch"] / per_epoch, 3))
                    best = [v.numpy() for v in net.variables]
                    snapshot()   # the checkpoint agrees with the card about the best weights
        if best is not None:
            for v, a in zip(net.variables, best, strict=True):
                v.assign(a)
        model_io.save(net, folder)
        state["seconds"] = round(elapsed(), 2)
        write_card()
        if final:
            ckpt.unlink(missing_ok=True)
        return _summary(folder, cards.read(folder) or {}, resumed)

    last_val = state["history"][-1]["val_accuracy"] if state["history"] else None
    ema: float | None = None
    try:
        with _sigterm_as_interrupt():
            while state["epoch"] < epochs:
                if state["bad_epochs"] >= patience:
                    return finish("early stopped")
                if elapsed() >= budget:
                    return finish("time limit")
                epoch, t_epoch, losses = state["epoch"], time.perf_counter(), []
                ds = epoch_dataset(data, info.image_shape, batch_size, seed, epoch, state["batch"], augment, limit)
                bar = tqdm(total=per_epoch, initial=state["batch"], desc=f"{model} epoch {epoch + 1}/{epochs}",
                           disable=not progress, unit="batch", dynamic_ncols=True, mininterval=1.0)
                with bar:
                    for x, y in ds:
                        rate = learning_rate(recipe, peak, state["step"],
                                             max(state["step"] / planned, elapsed() / budget))
                        optimizer.learning_rate.assign(rate)
                        value = float(step_fn(x, y))
                        if not math.isfinite(value):
                            raise ModelError(f"{folder}: the loss became {value} at step {state['step']}; "
                                             "try a smaller learning rate (lr=...)")
                        losses.append(value)
                        ema = value if ema is None else 0.98 * ema + 0.02 * value
                        state["batch"] += 1
                        state["step"] += 1
                        steps_here += 1
                        bar.update(1)
                        bar.set_postfix(loss=f"{ema:.3f}", val_acc="-" if last_val is None else f"{last_val:.3f}",
                                        refresh=False)
                        if state["step"] % log_every == 0:
                            with writer.as_default(step=state["step"]):
                                _scalar("train/loss", ema)
                                _scalar("train/learning_rate", rate)
                        if stop_after is not None and steps_here >= stop_after:
                            raise KeyboardInterrupt
                        if time.perf_counter() - t_ckpt >= checkpoint_minutes * 60:
                            snapshot()
                            t_ckpt = time.perf_counter()
                        if elapsed() >= budget:
                            break
                    if state["batch"] < per_epoch:      # time budget ran out inside the epoch
                        return finish("time limit")
                    val, _ = whole_number_accuracy(infer, data, "validation", val_limit,
                                                   none_terms=loss == "sum") if n_val else (None, 0)
                    last_val = val
                    bar.set_postfix(loss=f"{ema:.3f}", val_acc="-" if val is None else f"{val:.3f}")
                state["history"].append({
                    "epoch": epoch + 1, "step": state["step"], "loss": round(float(np.mean(losses)), 5)
                    if losses else None, "val_accuracy": None if val is None else round(val, 5),
                    "learning_rate": float(optimizer.learning_rate.numpy()),
                    "seconds": round(time.perf_counter() - t_epoch, 2)})
                with writer.as_default(step=state["step"]):
                    if val is not None:
                        _scalar("validation/whole_number_accuracy", val)
                    if losses:
                        _scalar("train/epoch_loss", float(np.mean(losses)))
                writer.flush()
                if val is not None and (state["best_accuracy"] is None or val > state["best_accuracy"]):
                    state.update(best_accuracy=val, best_epoch=epoch + 1, bad_epochs=0)
                    best = [v.numpy() for v in net.variables]
                elif val is not None:
                    state["bad_epochs"] += 1
                state["epoch"], state["batch"] = epoch + 1, 0
                snapshot()
                t_ckpt = time.perf_counter()
            return finish("early stopped" if state["bad_epochs"] >= patience else "complete")
    except KeyboardInterrupt:
        snapshot()
        raise
    finally:
        writer.close()


def _card(folder: Path, old: dict | None, net: Any, arch: str, info: Any, data_facts: dict, config: dict,
          state: dict, recipe: Any, epochs: int, minutes: float | None, patience: int) -> dict:
    import platform

    from svhn_api.models import architectures as models

    card = dict(old or {})
    card.update({
        "name": folder.name,
        "architecture": {**models.describe(net), "recipe": {
            "optimizer": recipe.optimizer, "learning_rate": config["lr"] or recipe.lr, "schedule": recipe.schedule,
            "decay_steps": recipe.decay_steps, "decay": recipe.decay, "weight_decay": recipe.weight_decay}},
        "input": {"shape": list(info.image_shape), "dtype": "uint8", "crop": info.crop,
                  "how": "64x64 RGB union-box crop expanded 30% (preprocess.crop_union); the model centre-crops "
                         "and normalises inside" if info.crop == "union" else "the capstone's 32x32 gray strip"},
        "decode": {"joint": True, "none_terms": config["loss"] == "sum"},
        "data": data_facts,
        "training": {"config": config, "epochs_planned": epochs, "minutes_budget": minutes, "patience": patience,
                     "status": state["status"], "epochs_done": state["epoch"], "steps": state["step"],
                     "wall_seconds": state["seconds"], "sessions": state["sessions"], "started": state["started"],
                     "best_epoch": state["best_epoch"], "best_val_accuracy": state["best_accuracy"],
                     "history": state["history"]},
        "hardware": cards.hardware(),
        "versions": cards.versions(),
        "python": platform.python_version(),
    })
    card.setdefault("evaluations", [])
    card["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return card


def _summary(folder: Path, card: dict, resumed: bool, note: str | None = None) -> dict:
    t = card.get("training", {})
    out = {"folder": str(folder), "model": str(folder / "model.keras"), "card": str(folder / cards.CARD),
           "architecture": card.get("architecture", {}).get("name"), "status": t.get("status"),
           "epochs": t.get("epochs_done"), "steps": t.get("steps"), "wall_seconds": t.get("wall_seconds"),
           "best_val_accuracy": t.get("best_val_accuracy"), "best_epoch": t.get("best_epoch"),
           "resumed": resumed}
    if note:
        out["note"] = note
    return out
