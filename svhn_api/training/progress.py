"""What a training run shows and leaves behind while it runs: the progress bar, the metrics log, and
SIGTERM handled like Ctrl-C (so a killed run still checkpoints)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svhn_api.training.train import Plan, TrainState


class MetricLog:
    """Scalars by step, as JSON lines in ``logs/metrics.jsonl`` (any backend) and as TensorBoard events
    when TensorFlow is installed."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.file = open(folder / "metrics.jsonl", "a")  # noqa: SIM115 - closed by close()
        self.tensorboard = _tensorboard_writer(folder)

    def scalars(self, step: int, values: dict[str, float | None]) -> None:
        values = {k: float(v) for k, v in values.items() if v is not None}
        if not values:
            return
        self.file.write(json.dumps({"step": step, **values}) + "\n")
        self.file.flush()
        if self.tensorboard is not None:
            self.tensorboard(step, values)

    def close(self) -> None:
        self.file.close()


def _tensorboard_writer(folder: Path) -> Any:
    try:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
    except ImportError:
        return None
    writer = tf.summary.create_file_writer(str(folder))
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = "scalars"

    def write(step: int, values: dict[str, float]) -> None:
        with writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(value, tf.float32), metadata=meta)
        writer.flush()

    return write


@contextmanager
def progress_bar(plan: Plan, state: TrainState, last_val: float | None) -> Iterator[Any]:
    """A tqdm bar over one epoch; ``loss_avg`` is a moving average of the step losses (the card's epoch loss is
    their plain mean)."""
    from tqdm import tqdm

    with tqdm(total=plan.per_epoch, initial=state.batch, unit="batch", dynamic_ncols=True, mininterval=1.0,
              desc=f"{plan.architecture} epoch {state.epoch + 1}/{plan.settings.epochs}",
              disable=not plan.settings.progress) as bar:
        bar.set_postfix(loss_avg="-", val_acc="-" if last_val is None else f"{last_val:.3f}", refresh=False)
        yield bar


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
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


EARLY_HINT = ("note: accuracy starts near 0: whole-number accuracy needs every digit right; it rises after a few "
              "epochs")
EARLY_EPOCHS, NEAR_ZERO = 3, 0.1


def early_accuracy_hint(plan: Plan, epochs: float, value: float | None) -> bool:
    """Under the bar, once, when a reader's validation accuracy is near 0 in its first epochs (a newcomer's
    worry, and normal); returns whether it was shown."""
    if not (plan.settings.progress and plan.task.name == "read" and value is not None and value < NEAR_ZERO
            and epochs <= EARLY_EPOCHS):
        return False
    from tqdm import tqdm

    tqdm.write(EARLY_HINT, file=sys.stderr)
    return True


class _Retracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextmanager
def quiet_retracing() -> Iterator[None]:
    """TensorFlow's retracing warnings off (on its ``tensorflow`` logger, the one that prints them) while a run
    trains: validation compiles its function once per run, and a partial last batch may trace the step again,
    which is expected, not worth a warning inside the bar. Errors and other warnings still show."""
    logger, quiet = logging.getLogger("tensorflow"), _Retracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
