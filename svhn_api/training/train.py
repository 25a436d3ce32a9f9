"""train(): fit one of the architectures on a prepared store, resumably, on any Keras 3 backend.

The loop (``_fit``) reads top to bottom: for each epoch, stream batches, set the learning rate, take one
step (``train_on_batch`` of a model that augments, then returns logits), track the loss, checkpoint on
time; then validate, keep the best weights, checkpoint. Everything else is a small function around it.

- Batches stream from the HDF5 store (``batches.epoch_batches``), never read whole. Each epoch's order
  comes from ``(seed, epoch)``; augmentation (``augment.Augment``) draws from a seed generator that is part
  of the checkpoint, so a run is a function of its seed and resumes exactly.
- A checkpoint (every variable by structural name, optimizer state, position, history, best weights) is
  written atomically every ``checkpoint_minutes``, at each epoch end, on Ctrl-C / SIGTERM and at the end.
  Running the same call again continues from it; a finished run answers with its summary. ``fresh=True``
  starts over.
- Early stopping on the kind's validation score (``models.kinds.Score``; ``patience`` epochs), keeping the best weights.
- ``minutes`` is the training-time budget of the whole run, across resumes; the learning-rate schedule
  (cosine for compact) decays over whichever ends first, the planned steps or the budget.
- Metrics go to ``<folder>/logs/metrics.jsonl`` (and TensorBoard when TensorFlow is installed).

Output: ``<root>/<name>/model.keras`` (best weights) and ``card.json``. ``root`` defaults to
``paths.runs_dir()``; the shipped models are never written.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_api import paths
from svhn_api.data import store
from svhn_api.data.preprocess import crop_meaning
from svhn_api.errors import DataError, ModelError
from svhn_api.models import card as cards
from svhn_api.models import kinds, provenance
from svhn_api.models.folder import ModelFolder
from svhn_api.training import checkpoint
from svhn_api.training.batches import epoch_batches, read_ahead, steps_per_epoch
from svhn_api.training.devices import count, data_parallel, divisible, processes, step
from svhn_api.training.loss import LOSSES, Loss
from svhn_api.training.progress import (
    MetricLog,
    early_accuracy_hint,
    interrupt_on_sigterm,
    progress_bar,
    quiet_retracing,
)
from svhn_api.training.schedule import learning_rate
from svhn_api.training.settings import TrainResult, TrainSettings
from svhn_api.training.tasks import Task, check_store

if TYPE_CHECKING:
    from svhn_api.models.io import LoadedModel
    from svhn_api.models.kinds import Recipe

FINAL = ("complete", "early stopped", "time limit")  # with no checkpoint left, a rerun has nothing to do


@dataclass(frozen=True)
class Plan:
    """What a run is: its settings resolved against the store and the recipe, the store opened once, and what
    is derived from them once."""

    settings: TrainSettings      # resolved (TrainSettings.resolved)
    data: store.OpenStore
    folder: Path
    task: Task
    image_shape: tuple[int, ...]
    crop: str
    config: dict[str, Any]       # settings.identity: what must match for a rerun to continue the run
    data_facts: dict[str, Any]   # what the card says about the store
    per_epoch: int
    n_val: int

    @property
    def architecture(self) -> str:
        return self.settings.model

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size or 0   # resolved: the recipe's when none was given

    @property
    def none_terms(self) -> bool:
        return self.settings.loss == "sum"


@dataclass
class TrainState:
    """Where a run is; saved in every checkpoint."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float | None = None   # the best validation score, of the task's kind (``Task.score``)
    best_epoch: float | None = None
    bad_epochs: int = 0
    status: str = "training"
    started: str = field(default_factory=provenance.now)
    sessions: int = 0


@dataclass
class Session:
    """The live objects of one call of ``train``."""

    plan: Plan
    net: Any                 # the inference model (uint8 -> probabilities), what model.keras holds
    trainer: Any             # augmentation + the same layers -> logits, compiled with the loss
    state: TrainState
    best: dict[str, np.ndarray] | None
    log: MetricLog
    t0: float = field(default_factory=time.perf_counter)
    seconds0: float = 0.0
    scored: LoadedModel | None = None   # ``net`` wrapped for validation once: one compiled function
    hinted: bool = False     # the early-accuracy hint was shown

    def elapsed(self) -> float:
        return self.seconds0 + time.perf_counter() - self.t0


_D = TrainSettings    # the defaults: one owner


def train(data: str | Path, model: str = _D.model, name: str | None = None, epochs: int = _D.epochs,
          batch_size: int | None = None, seed: int = _D.seed, minutes: float | None = None, loss: Loss = _D.loss,
          progress: bool = _D.progress, *, root: str | Path | None = None, augment: bool | None = None,
          patience: int = _D.patience, checkpoint_minutes: float = _D.checkpoint_minutes, limit: int | None = None,
          val_limit: int | None = None, lr: float | None = None, fresh: bool = _D.fresh, jit: bool | None = None,
          log_every: int = _D.log_every, stop_after: int | None = None, deterministic: bool = _D.deterministic,
          init: str | Path | None = None, devices: int | str | None = None, onnx: bool = _D.onnx) -> TrainResult:
    """Train architecture ``model`` on the store ``data`` into ``<root>/<name or model>/``; returns what it made.

    ``limit`` / ``val_limit`` cap the train / validation rows used. ``jit``: XLA compilation of the step
    (default: on for JAX and PyTorch, off for TensorFlow, whose oneDNN kernels are faster on CPU).
    ``stop_after`` (for tests) interrupts the run after that many steps of this call, as Ctrl-C would.
    ``init``: a model (folder or .keras file) of the same architecture whose weights the run starts from
    (fine-tuning), instead of a random initialisation. Never reads the test split.
    ``onnx``: write the finished model's ONNX sibling (``models.runtime.export``; False: Keras only).
    ``devices``: ``"all"`` or a count: data-parallel over that many devices (JAX or TensorFlow backend;
    ``training.devices``), ``batch_size`` per device and the learning rate scaled by the device count.

    Global state: building the model seeds Python's ``random``, NumPy's global generator and the Keras
    backend's global seed (``keras.utils.set_random_seed``), as Keras needs for reproducible initial
    weights; Python's and NumPy's generators are restored afterwards, the backend's is left seeded.
    ``deterministic=True`` also turns on TensorFlow's op determinism, which is process-wide and stays on.
    """
    return run(data, TrainSettings(
        model=model, name=name, epochs=epochs, batch_size=batch_size, seed=seed, minutes=minutes, loss=loss,
        progress=progress, root=root, augment=augment, patience=patience, checkpoint_minutes=checkpoint_minutes,
        limit=limit, val_limit=val_limit, lr=lr, fresh=fresh, jit=jit, log_every=log_every, stop_after=stop_after,
        deterministic=deterministic, init=init, devices=devices, onnx=onnx))


def run(data: str | Path, settings: TrainSettings) -> TrainResult:
    """``train`` with its settings as one object; the store is opened here, once, for the whole run."""
    n = count(settings.devices)
    if settings.minutes is not None and processes() > 1:
        raise ValueError("several processes train together: give --epochs, not --minutes, so that they all take the "
                         "same steps")
    with store.OpenStore(data) as opened:
        plan = _plan(opened, settings, n)
        done = _finished_already(plan)
        if done is not None:
            return done
        with data_parallel(n):
            s = _start(plan)
            if s.state.seconds >= plan.settings.budget:
                return _result(plan.folder, resumed=True, note=f"the {settings.minutes} minute budget is used up; "
                               "give more minutes to continue")
            try:
                with interrupt_on_sigterm(), quiet_retracing():
                    return _fit(s)
            except KeyboardInterrupt:
                _snapshot(s)
                raise
            finally:
                s.log.close()


def _fit(s: Session) -> TrainResult:
    """The training loop."""
    plan, state, settings = s.plan, s.state, s.plan.settings
    recipe, peak = _recipe(plan), _peak(plan)
    steps_here, t_ckpt, ema = 0, time.perf_counter(), None
    last_val = state.history[-1]["val_accuracy"] if state.history else None
    while state.epoch < settings.epochs:
        if state.bad_epochs >= settings.patience:
            return _finish(s, "early stopped")
        if s.elapsed() >= settings.budget:
            return _finish(s, "time limit")
        t_epoch, losses = time.perf_counter(), []
        batches = epoch_batches(plan.data, plan.batch_size, settings.seed, state.epoch, state.batch,
                                settings.limit, plan.task.fields)
        with progress_bar(plan, state, last_val) as bar:
            for batch in read_ahead(batches):
                x, y = plan.task.targets(batch, _batch_rng(plan, state))
                x, y = divisible(x, y, plan.config["devices"] or 1)
                done = max(state.step / (plan.per_epoch * settings.epochs), s.elapsed() / settings.budget)
                rate = learning_rate(recipe, peak, state.step, done)
                s.trainer.optimizer.learning_rate.assign(rate)
                value = float(step(s.trainer, x, y))
                if not math.isfinite(value):
                    raise ModelError(f"{plan.folder}: the loss became {value} at step {state.step}; "
                                     "try a smaller learning rate (lr=...)")
                losses.append(value)
                ema = value if ema is None else 0.98 * ema + 0.02 * value
                state.batch, state.step, steps_here = state.batch + 1, state.step + 1, steps_here + 1
                bar.update(1)
                bar.set_postfix(loss_avg=f"{ema:.3f}", val_acc="-" if last_val is None else f"{last_val:.3f}",
                                refresh=False)
                if state.step % settings.log_every == 0:
                    s.log.scalars(state.step, {"train/loss_moving_average": ema, "train/learning_rate": rate})
                if settings.stop_after is not None and steps_here >= settings.stop_after:
                    raise KeyboardInterrupt
                if time.perf_counter() - t_ckpt >= settings.checkpoint_minutes * 60:
                    _snapshot(s)
                    t_ckpt = time.perf_counter()
                if s.elapsed() >= settings.budget:
                    break
            if state.batch < plan.per_epoch:      # the time budget ran out inside the epoch
                return _finish(s, "time limit")
            last_val = _validate(s)
            bar.set_postfix(loss_avg=f"{ema:.3f}", val_acc="-" if last_val is None else f"{last_val:.3f}")
        _end_epoch(s, losses, last_val, time.perf_counter() - t_epoch)
        t_ckpt = time.perf_counter()
    return _finish(s, "complete")       # the epoch cap, even when the last epoch used up the patience


# ------------------------------------------------------------------------------------------ planning

def _plan(data: store.OpenStore, settings: TrainSettings, devices: int) -> Plan:
    if settings.loss not in LOSSES:
        raise ValueError(f"loss {settings.loss!r}: choose one of {', '.join(LOSSES)}")
    arch = settings.model
    info = store.inspect(data)
    goal = kinds.of_architecture(arch).task_of_training()
    check_store(goal, info.crop, data.path, arch)
    if info.counts.get("train", 0) == 0:
        raise DataError(f"{data.path}: the train split is empty; prepare a store with training images")
    settings = settings.resolved(arch, tuple(info.image_shape), devices)
    if settings.augment and info.image_shape[-1] != 3:
        raise ValueError(f"augment=True needs an RGB store; {data.path} holds {info.image_shape} "
                         f"({info.crop} crop)")
    folder = Path(settings.root if settings.root is not None else paths.runs_dir()) / (settings.name or arch)
    if paths.is_shipped(folder):
        raise ModelError(f"{folder}: the shipped models are read-only; train into another folder "
                         f"(the default is {paths.runs_dir()}/<name>)")
    facts = provenance.data_facts(data)
    return Plan(settings, data, folder, goal, tuple(info.image_shape), info.crop,
                settings.identity(facts["sha256"], devices), facts,
                steps_per_epoch(data, settings.batch_size or 0, settings.limit),
                min(info.counts.get("validation", 0), settings.val_limit or 1 << 62))


def _recipe(plan: Plan) -> Recipe:
    return kinds.recipe(plan.architecture)


def _peak(plan: Plan) -> float:
    return plan.settings.lr if plan.settings.lr is not None else _recipe(plan).lr


def _finished_already(plan: Plan) -> TrainResult | None:
    """The summary of a finished run with the same settings; an error for a run with other settings."""
    ckpt = plan.folder / checkpoint.FILE
    if plan.settings.fresh:
        ckpt.unlink(missing_ok=True)
        ModelFolder(plan.folder).card.unlink(missing_ok=True)
        return None
    old = cards.read(plan.folder) if plan.folder.is_dir() else None
    if old is None or old.training is None:
        return None
    differs = [k for k in plan.config if old.training.config.get(k) != plan.config[k]]  # a missing key reads None
    if differs:
        key = differs[0]
        raise ModelError(f"{plan.folder}: holds a run whose {key} is {old.training.config.get(key)!r}, not "
                         f"{plan.config[key]!r}; choose another name (--name) or start over with fresh=True "
                         "(CLI: --fresh)")
    if not ckpt.exists() and old.training.status in FINAL:
        return _result(plan.folder, resumed=False, note="already trained; nothing to do")
    return None


def _start(plan: Plan) -> Session:
    """Build the models (seeded), then load the checkpoint when there is one."""
    from svhn_api.backend import import_keras
    from svhn_api.models.architectures import build

    settings = plan.settings
    if settings.deterministic and import_keras().backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    with _seeded(settings.seed):
        net = build(plan.architecture, plan.image_shape)
        trainer = make_trainer(net, plan.architecture, settings.loss, settings.seed, bool(settings.augment),
                               settings.lr, settings.jit)
    plan.folder.mkdir(parents=True, exist_ok=True)
    state, best = TrainState(), None
    ckpt = plan.folder / checkpoint.FILE
    if ckpt.exists():
        state = TrainState(**checkpoint.read_state(ckpt))
        stored = checkpoint.load(ckpt, _groups(trainer))
        best = stored.get("best") or None
    elif plan.config["init"] is not None:
        _start_from(net, plan.config["init"])
    state.sessions += 1
    return Session(plan, net, trainer, state, best, MetricLog(plan.folder / "logs"), seconds0=state.seconds)


def _start_from(net: Any, model: str | Path) -> None:
    """Copy the weights of another model of the same architecture into ``net`` (names and shapes checked)."""
    from svhn_api.models import io

    path = Path(model)
    if not path.is_absolute() and paths.CHECKOUT is not None:   # paths.portable() made it checkout-relative
        path = paths.CHECKOUT / path
    source = checkpoint.model_names(io.load(path, runtime="keras").keras_model)
    target = checkpoint.model_names(net)
    if {k: tuple(v.shape) for k, v in source.items()} != {k: tuple(v.shape) for k, v in target.items()}:
        raise ModelError(f"{model}: not the same architecture as the model being trained; init= needs a model "
                         "built like it")
    for k, v in target.items():
        v.assign(source[k].numpy())


def make_trainer(net: Any, architecture: str, loss: Loss = "sum", seed: int = 0, augment: bool = True,
                 lr: float | None = None, jit: bool | None = None) -> Any:
    """The model a step trains: ``uint8 images -> augmentation (training only) -> net's layers up to the
    logits`` (the box, for the localizer), sharing ``net``'s weights, compiled with the task's loss and the
    recipe's optimizer.
    ``trainer.train_on_batch(images, labels)`` is one step on any backend."""
    from svhn_api.backend import import_keras
    from svhn_api.training.augment import Augment
    from svhn_api.training.schedule import make_optimizer

    keras = import_keras()
    goal = kinds.of_architecture(architecture).task_of_training()
    fitted = keras.Model(net.inputs, net.get_layer(goal.output).output, name="fitted")
    images = keras.Input(shape=net.input_shape[1:], dtype="uint8", name="image")
    x = Augment(seed, geometric=goal.geometric_augment, name="augment")(images) if augment else images
    trainer = keras.Model(images, fitted(x), name="trainer")
    trainer.compile(optimizer=make_optimizer(kinds.recipe(architecture), lr), loss=goal.loss(loss),
                    jit_compile=jit if jit is not None else keras.backend.backend() != "tensorflow")
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and the backend for model building; give Python and NumPy their state back after."""
    from svhn_api.backend import import_keras

    saved = random.getstate(), np.random.get_state()
    import_keras().utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])


# --------------------------------------------------------------------------------- epochs and checkpoints

def _groups(trainer: Any) -> dict[str, dict[str, Any]]:
    variables = checkpoint.model_names(trainer)
    return {"model": variables, "optimizer": checkpoint.optimizer_names(trainer.optimizer, variables)}


def _weights(net: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy()) for k, v in checkpoint.model_names(net).items()}


def _validate(s: Session) -> float | None:
    """The task's validation score (``kinds.Score``) of the current weights on the validation split (None
    without one)."""
    from svhn_api.models.io import wrap

    if not s.plan.n_val:
        return None
    s.scored = s.scored or wrap(s.net)
    value = s.plan.task.validation_score(s.scored, s.plan.data, s.plan.settings.val_limit, s.plan.none_terms)
    s.hinted = s.hinted or early_accuracy_hint(s.plan, s.state.epoch + s.state.batch / s.plan.per_epoch, value)
    return value


def _batch_rng(plan: Plan, state: TrainState) -> np.random.Generator:
    """The generator of one batch's data-side randomness, a function of (seed, epoch, batch): resumable."""
    return np.random.default_rng([plan.settings.seed, state.epoch, state.batch])


def _end_epoch(s: Session, losses: list[float], val: float | None, seconds: float) -> None:
    state = s.state
    mean_loss = float(np.mean(losses)) if losses else None
    state.history.append({"epoch": state.epoch + 1, "step": state.step,
                          "loss": None if mean_loss is None else round(mean_loss, 5),
                          "val_accuracy": None if val is None else round(val, 5),
                          "learning_rate": float(s.trainer.optimizer.learning_rate.numpy()),
                          "seconds": round(seconds, 2)})
    s.log.scalars(state.step, {"train/epoch_loss": mean_loss, f"validation/{s.plan.task.score.key}": val})
    if val is not None and s.plan.task.score.better(val, state.best_accuracy):
        state.best_accuracy, state.best_epoch, state.bad_epochs = val, state.epoch + 1, 0
        s.best = _weights(s.net)
    elif val is not None:
        state.bad_epochs += 1
    state.epoch, state.batch = state.epoch + 1, 0
    _snapshot(s)


def _snapshot(s: Session) -> None:
    """Checkpoint and card, so that nothing is lost if the process dies now."""
    s.state.seconds = round(s.elapsed(), 2)
    groups: dict[str, Any] = _groups(s.trainer)
    if s.best is not None:
        groups["best"] = s.best
    checkpoint.save(s.plan.folder / checkpoint.FILE, groups, asdict(s.state))
    _write_card(s)


def _finish(s: Session, status: str) -> TrainResult:
    """Write ``model.keras`` with the best weights and the final card; drop the checkpoint when done."""
    from svhn_api.models import io

    state, plan = s.state, s.plan
    state.status = status
    final = status in ("complete", "early stopped")
    if not final:
        _snapshot(s)                      # the last weights first: a second Ctrl-C during validation loses nothing
        if state.batch:                   # the budget ended inside an epoch: are the last weights the best?
            val = _validate(s)
            if val is not None and plan.task.score.better(val, state.best_accuracy):
                state.best_accuracy = val
                state.best_epoch = round(state.epoch + state.batch / plan.per_epoch, 3)
                s.best = _weights(s.net)
                _snapshot(s)              # the checkpoint agrees with the card about the best weights
    if s.best is not None:
        variables = checkpoint.model_names(s.net)
        for k, v in s.best.items():
            variables[k].assign(v)
    io.save(s.net, plan.folder)
    state.seconds = round(s.elapsed(), 2)
    _write_card(s)
    if final:
        (plan.folder / checkpoint.FILE).unlink(missing_ok=True)
    note = _export_onnx(plan.folder) if status in FINAL and plan.settings.onnx else None
    return _result(plan.folder, resumed=state.sessions > 1, note=note)


def _export_onnx(folder: Path) -> str | None:
    """The finished model's ONNX sibling (``models.runtime.export``); a note saying why when there is none."""
    from svhn_api.models import runtime

    try:
        runtime.export(folder)
    except ModelError as e:
        return f"no ONNX sibling, so this model runs on Keras only: {e}"
    return None


def _write_card(s: Session) -> None:
    from svhn_api.models.architectures import facts

    plan, state, recipe = s.plan, s.state, _recipe(s.plan)

    def change(old: cards.ModelCard | None) -> cards.ModelCard:
        card = old or cards.ModelCard()
        card.name = plan.folder.name
        card.architecture = {**facts(s.net, plan.task.meaning), "recipe": {
            "optimizer": recipe.optimizer, "learning_rate": _peak(plan), "schedule": recipe.schedule,
            "decay_steps": recipe.decay_steps, "decay": recipe.decay, "weight_decay": recipe.weight_decay}}
        card.input = cards.InputSpec(list(plan.image_shape), "uint8", plan.crop, crop_meaning(plan.crop))
        card.decode = cards.DecodeSpec(joint=True, none_terms=plan.none_terms)
        card.data = plan.data_facts
        card.training = cards.TrainingRecord(
            config=plan.config, epochs_planned=plan.settings.epochs, minutes_budget=plan.settings.minutes,
            patience=plan.settings.patience,
            status=state.status, epochs_done=state.epoch, steps=state.step, wall_seconds=state.seconds,
            sessions=state.sessions, started=state.started, best_epoch=state.best_epoch,
            best_val_accuracy=state.best_accuracy, history=state.history)
        card.hardware, card.versions, card.updated = provenance.hardware(), provenance.versions(), provenance.now()
        return card

    cards.update(plan.folder, change)


def _result(folder: Path, resumed: bool, note: str | None = None) -> TrainResult:
    card = cards.read(folder) or cards.ModelCard()
    t = card.training or cards.TrainingRecord()
    files = ModelFolder(folder)
    return TrainResult(str(folder), str(files.keras), str(files.card), card.architecture_name,
                       t.status, t.epochs_done, t.steps, t.wall_seconds, t.best_val_accuracy, t.best_epoch, resumed,
                       str(files.onnx) if card.onnx else None, note)
