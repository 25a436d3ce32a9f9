"""Overview: which data and model are loaded, their cards, and what to do next."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import selection, view_model

st.title("svhn-reader")
st.markdown("Reads multi-digit house numbers from street photos: one network with a length head and five "
            "digit heads, trained on the Street View House Numbers layout.")

store = selection.current_store()
model = selection.current_model()

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
        st.warning(f"No trained reader in {selection.models_where()}.")
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
            best = view_model.best_validation(mc)
            st.caption(f"training {view_model.how_training_ended(tr)} · {tr.epochs_done} epochs · {tr.steps} steps"
                       + (f" · {tr.wall_seconds / 60:.0f} min" if tr.wall_seconds else "")
                       + (f" · {best}" if best else ""))
        with st.expander("Model card"):
            st.code(json.dumps(mc.to_dict(), indent=2, default=str)[:20000], language="json")

if model is not None:
    rows = view_model.evaluation_table(model.card)
    if rows:
        # full width, accuracy before the long columns: two rows that differ only by crop stay side by side;
        # the long texts wrap (row_height) instead of being cut off
        widths = {"data": 330, "crop": 170, "whole-number accuracy": 75, "split": 150, "images": 60, "mean IoU": 50,
                  "coverage at 98%": 70, "evaluated": 85}
        st.subheader("Recorded evaluations")
        st.caption(f"From {model.name}'s card, latest last: the data, how each photo was cropped (the ground-truth "
                   "box or the whole photo), and the accuracy on it.")
        config = {
            "data": st.column_config.TextColumn("data", width=widths["data"], help="What was read: the photos' "
                                                "source, count and (for validation photos) how they were held out"),
            "crop": st.column_config.TextColumn("crop", width=widths["crop"], help="How each photo was cropped for "
                                                "the reader: the ground-truth union box of its digits expanded 30% "
                                                "(+30%), or the whole photo, the localizer finding the number"),
            "whole-number accuracy": st.column_config.TextColumn(
                "accuracy", width=widths["whole-number accuracy"], help="Whole-number accuracy: a reading counts "
                "only when its length and every digit are right"),
            "split": st.column_config.TextColumn("split", width=widths["split"], help="The SVHN split the photos "
                                                 "come from; held out: train-split photos kept out of training"),
            "images": st.column_config.NumberColumn("images", width=widths["images"], help="How many photos were "
                                                    "read"),
            "mean IoU": st.column_config.TextColumn("IoU", width=widths["mean IoU"], help="Mean IoU of the box the "
                                                    "localizer found with the digits' union box (whole photos only)"),
            "coverage at 98%": st.column_config.TextColumn(
                "cov. 98%", width=widths["coverage at 98%"], help="Coverage at 98% accuracy: the share of photos "
                "the model can answer, most confident first, keeping 98% accuracy"),
            "evaluated": st.column_config.TextColumn("date", width=widths["evaluated"], help="When it was "
                                                     "evaluated (UTC)"),
        }
        row_px = view_model.row_height(rows, widths)
        st.dataframe(rows, hide_index=True, width="stretch", row_height=row_px,
                     height=view_model.table_height(len(rows), row_px),
                     column_config={c: v for c, v in config.items() if c in rows[0]})

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
