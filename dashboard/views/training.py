"""Training: the curves recorded in each model card, and how to start a run."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard import calls, selection, view_model, wording
from svhn_api import paths
from svhn_api.models import card as cards
from svhn_api.models.folder import ModelFolder

st.title("Training")
models = calls.models()
runs = wording.shown_path(paths.runs_dir())
store = selection.current_store()
data_path = wording.shown_path(store.path) if store else "data/synthetic/synthetic_union.h5"

GROUPS = (("Loss", lambda k: "loss" in k), ("Accuracy", lambda k: "acc" in k or "coverage" in k),
          ("Learning rate", lambda k: k in ("lr", "learning_rate")))
# what each recorded series is, for the legends
SERIES = {"loss": "training loss (mean over the epoch's batches)",
          "learning_rate": "learning rate (at the epoch's end)", "lr": "learning rate (at the epoch's end)",
          "seconds": "seconds per epoch"}
VALIDATION = {"whole-number accuracy": "validation whole-number accuracy",
              "mean IoU": "validation mean IoU (overlap of the box found with the digits' union box)"}
Y_FORMATS: dict[str, dict[str, Any]] = {"Accuracy": dict(tickformat=".0%", range=[0, 1]),
                                         "Mean IoU": dict(tickformat=".2f", range=[0, 1]),
                                         "Learning rate": dict(tickformat=".1e")}


def curves(history: dict[str, list[float | None]], title: str, keys: list[str], names: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for k in keys:
        fig.add_trace(go.Scatter(x=history["epoch"], y=history[k], mode="lines+markers", name=names.get(k, k),
                                 line=dict(dash="dash" if k.startswith("val") else "solid")))
    fig.update_layout(title=title, xaxis_title="epoch", height=360, margin=dict(t=50, b=40, l=60, r=10),
                      showlegend=True, legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    fig.update_xaxes(tickformat="d", dtick=max(1, len(history["epoch"]) // 10))
    fig.update_yaxes(**Y_FORMATS.get(title, {}))
    return fig


if not models:
    st.info(f"No model card found in {selection.models_where()} yet: train a model (below) and its curves "
            "appear here.")
for m in models:
    st.subheader(m.name)
    hist = view_model.training_history(m.card)
    tr = m.card.training or cards.TrainingRecord()
    cfg = tr.config
    metric = view_model.validation_metric(m.card)
    names = {**SERIES, "val_accuracy": VALIDATION.get(metric, f"validation {metric}")}
    facts = view_model.training_facts(m.card)
    best = view_model.best_validation(m.card)
    if best:
        facts.append(best)
    if not m.ready:
        facts.append(f"no {ModelFolder.KERAS} yet (a run in progress, or interrupted: the same command resumes it)")
    st.caption(" · ".join(facts))
    if cfg:
        st.caption("settings: " + ", ".join(f"{k}={v}" for k, v in cfg.items()
                                            if v is not None and not k.endswith("sha256")))
    if not hist or len(hist) < 2:
        st.caption("This card records no per-epoch history.")
    else:
        keys = [k for k in hist if k not in ("epoch", "step")]
        used: set[str] = set()
        figs = []
        for title, pick in GROUPS:
            ks = [k for k in keys if k not in used and pick(k.lower())]
            used.update(ks)
            if ks:
                # a localizer's val_accuracy is its mean IoU: its own chart, not a percentage
                figs.append(curves(hist, "Mean IoU" if title == "Accuracy" and metric == "mean IoU" else title,
                                   ks, names))
        rest = [k for k in keys if k not in used]
        if rest:
            figs.append(curves(hist, "Seconds per epoch" if rest == ["seconds"] else "Other", rest, names))
        for i in range(0, len(figs), 2):
            cols = st.columns(2)
            for col, fig in zip(cols, figs[i:i + 2], strict=False):
                col.plotly_chart(fig, width="stretch", key=f"train_{m.name}_{i}_{fig.layout.title.text}")
        if "loss" in hist:
            st.caption("The loss here is each epoch's mean. The progress bar of a training run shows `loss_avg`, "
                       "a moving average of the latest batches, so at an epoch's end the two differ.")
    with st.expander(f"{m.name}: model card"):
        st.code(json.dumps(m.card.to_dict(), indent=2, default=str)[:20000], language="json")

st.subheader("Start a training run")
if not calls.keras_installed():
    st.warning("Training needs Keras and TensorFlow, which this installation does not have (it reads photos on "
               "ONNX Runtime). Install them where you train: `pip install 'svhn-reader[train]'` (in a checkout: "
               "`pip install -r requirements-train.lock`).")
st.markdown("Training runs from the command line (it takes minutes to hours; the dashboard only reads its "
            f"results). Each run has its own folder, `{runs}/<name>/` (`$SVHN_RUNS`; the shipped models are "
            "never written to): its model and `card.json` appear on this page once the run finishes, and "
            "running the same command again resumes it (`--fresh` starts it over).")
st.code(f"python -m svhn_api train --data {data_path} --model compact --minutes 30\n"
        f"python -m svhn_api train --data {data_path} --model compact --epochs 30 --name compact-long\n"
        f"python -m svhn_api evaluate --model {runs}/compact --data {data_path} --split validation",
        language="bash", wrap_lines=True)
st.caption("Architectures: `compact` (the shipped CPU model), `deep` (Goodfellow et al. 2013), `capstone` (the "
           "2016 capstone; best with a `--crop capstone` store). `--loss masked` trains with the paper's loss. "
           "`python -m svhn_api train --help` lists every option.")
