"""Overview: which data and model are loaded, their cards, and what to do next."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import common, view_model

st.title("svhn-reader")
st.markdown("Reads multi-digit house numbers from street photos: one network with a length head and five "
            "digit heads, trained on the Street View House Numbers layout.")

store = common.current_store()
model = common.current_model()

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Data")
    if store is None:
        st.warning("No prepared store. Run `python -m svhn_api prepare --source synthetic`.")
    else:
        card = view_model.store_card(store)
        kind = {"synthetic": "the embedded **synthetic** house numbers (rendered from fonts, SVHN-like layout)",
                "real": "**real** SVHN photos (official archives)",
                "unverified": "photos from **unverified** archives (prepared with --no-verify)",
                }.get(card["kind"], f"**{card['kind']}** photos")
        st.markdown(f"`{card['path']}` — {kind}; crop **{card['crop']}**, images {card['image_shape']}.")
        cols = st.columns(len(card["counts"]) or 1)
        for col, (split, n) in zip(cols, card["counts"].items(), strict=False):
            col.metric(split, f"{n:,}")
        st.caption((f"created {card['created']} · " if card["created"] else "")
                   + f"library {card['library_version'] or '?'} · "
                   f"{card['left_out']} image(s) left out while preparing")
        with st.expander("Data card"):
            st.json(card)

with right:
    st.subheader("Model")
    if model is None:
        st.warning(f"No trained model in {common.models_where()}.")
    else:
        mc = model.card
        arch, data, tr = mc.architecture, mc.data, mc.training
        params = arch.get("parameters")
        st.markdown(f"`{model.path}` — architecture **{arch.get('name', model.name)}**"
                    + (f", {params:,} parameters" if isinstance(params, int) else ""))
        if data:
            counts = data.get("counts") or {}
            st.markdown(f"Trained on **{data.get('kind', '?')}** data `{data.get('path', '?')}` "
                        f"({counts.get('train', '?'):,} training images, {data.get('crop', '?')} crop)"
                        if isinstance(counts.get("train"), int) else
                        f"Trained on **{data.get('kind', '?')}** data `{data.get('path', '?')}`")
        if tr:
            st.caption(f"training {tr.status or '?'} · {tr.epochs_done} epochs · {tr.steps} steps"
                       + (f" · {tr.wall_seconds / 60:.0f} min" if tr.wall_seconds else "")
                       + (f" · best validation whole-number accuracy {common.percent(tr.best_val_accuracy)}"
                          if tr.best_val_accuracy is not None else ""))
        with st.expander("Model card"):
            st.code(json.dumps(mc.to_dict(), indent=2, default=str)[:20000], language="json")

if model is not None:
    rows = view_model.evaluation_rows(model.card)
    if rows:
        # full width, accuracy before the long columns: two rows that differ only by crop stay side by side
        st.subheader("Recorded evaluations")
        st.caption(f"From {model.name}'s card, latest last: the data, how each photo was cropped (the ground-truth "
                   "box or the whole photo), and the accuracy on it.")
        st.dataframe(rows[-8:], hide_index=True, width="stretch", column_config={
            "data": st.column_config.TextColumn("data", width="large"),
            "crop": st.column_config.TextColumn("crop", width="medium"),
            "whole-number accuracy": st.column_config.TextColumn("whole-number accuracy", width="small"),
        })

st.subheader("What to do next")
st.page_link("views/explore.py", label="Explore the data: counts, histograms, samples with their boxes",
             icon=":material/bar_chart:")
st.page_link("views/preprocessing.py", label="Check the preprocessing of one image, step by step",
             icon=":material/crop:")
st.page_link("views/evaluate.py", label="Evaluate the model: 64 samples, full accuracy, coverage",
             icon=":material/fact_check:")
st.page_link("views/predict.py", label="Read a house number from a test image or your own photo",
             icon=":material/pin:")
st.page_link("views/training.py", label="Training curves, and how to train a model", icon=":material/show_chart:")
if store is not None and store.kind == "synthetic":
    st.info("To work on real SVHN photos, prepare the official archives (downloaded, or put them in "
            "`data/archives/` yourself); the new store then shows up in the sidebar:\n\n"
            "```\npython -m svhn_api prepare\n```")
