"""Evaluate: 64 random samples marked right or wrong, and whole-split accuracy with its breakdowns."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import calls, selection, view_model, wording
from svhn_api.errors import SVHNError

RIGHT, WRONG = (40, 167, 69), (220, 53, 69)
RIGHT_MARK, WRONG_MARK = ":green[:material/check_circle:]", ":red[:material/cancel:]"
SPLIT_COLOURS = {"validation": "#ff7f0e", "test": "#2ca02c", "train": "#1f77b4"}

st.title("Evaluate the model")
store = selection.require_store()
entry = selection.require_model()
path = str(store.path)
splits = [s for s in ("test", "validation") if store.info.counts.get(s)]
if not splits:
    st.warning(f"{path} has no validation or test rows to evaluate on.")
    st.stop()
st.caption(f"model `{entry.path}` · data `{path}` ({store.kind}, {store.info.crop} crop: the ground-truth "
           "digit boxes, expanded 30%)")

# ------------------------------------------------------------------------------------------ 64 samples
st.subheader("64 random samples")
c1, c2 = st.columns([2, 1])
split = c1.selectbox("Split", splits, key="eval_split")
if "eval_seed" not in st.session_state:
    st.session_state.eval_seed = 0
if c2.button("Draw another 64", key="eval_draw", width="stretch"):
    st.session_state.eval_seed += 1
seed = int(st.session_state.eval_seed)

try:
    with st.spinner("Reading 64 numbers…"):
        report = calls.evaluation(entry, path, split, samples=64, seed=seed)
except SVHNError as e:
    st.error(str(e))
    st.stop()
rows = report.samples or []
right = sum(r["correct"] for r in rows)
m1, m2 = st.columns(2)
m1.metric(f"Whole-number accuracy on these {len(rows)}", wording.percent(right / len(rows) if rows else None))
m2.metric("Right / wrong", f"{right} / {len(rows) - right}")
samples = calls.samples_for(path, calls.mtime(path), split, tuple(r["index"] for r in rows))
per_row = 8
for i in range(0, len(rows), per_row):
    cols = st.columns(per_row)
    for col, row, sample in zip(cols, rows[i:i + per_row], samples[i:i + per_row], strict=False):
        ok = row["correct"]
        w, h = sample.image.size
        col.image(view_model.draw_boxes(sample.image, [(0, 0, w, h)], RIGHT if ok else WRONG, 4), width="stretch")
        col.markdown((f"{RIGHT_MARK} **{row['prediction']}**" if ok else
                      f"{WRONG_MARK} **{row['prediction'] or '–'}**  \ntruth {row['truth']}"),
                     help=f"{split} #{row['index']} ({row['filename']}): confidence {row['confidence']:.3f}; next: "
                     + ", ".join(a["number"] for a in row["alternatives"][:3]))

# ------------------------------------------------------------------------------------------ whole splits
st.subheader("Whole splits")
st.markdown("Whole-number accuracy counts a reading right only when its length and every digit are right. "
            "The 2016 capstone's figure (the mean per-head correctness) is shown beside it for comparison; it "
            "is always higher and is not a whole-number accuracy.")
pressed: dict = st.session_state.setdefault("full_eval_pressed", {})   # the splits asked for, in order
whole = st.checkbox("Also read each photo whole: the localizer finds the number, as `predict(photo)` does for a "
                    "user (the original photos are read from the archives beside the store)", key="eval_whole_photo")
buttons = st.columns(len(splits))
for col, s in zip(buttons, reversed(splits), strict=True):
    n = store.info.counts[s]
    if col.button(f"Evaluate the whole {s} split", key=f"full_{s}", help=f"{n:,} images", width="stretch"):
        bar = st.progress(0.0, text=f"Evaluating {n:,} {s} images…")
        try:
            with st.spinner(f"Evaluating the whole {s} split ({n:,} images)…"):
                calls.full_evaluation(entry, path, s, bar, whole_photo=whole)
            pressed.pop(s, None)
            pressed[s] = True
        except SVHNError as e:
            st.error(str(e))
        bar.empty()
# the results this session asked for, for the model, store and mode now selected (kept once per server process)
done = {s: r for s in pressed if (r := calls.known_full_evaluation(entry, path, s, whole)) is not None}
if not done:
    st.info("Press a button above to evaluate a whole split (validation first: the test split is for the "
            "final figure).")
    st.stop()

for s, r in done.items():   # one full-width row per split: the metric labels are never cut
    mm = r.metrics
    st.markdown(f"**{s}** — {r.data.count:,} images, {r.seconds:.1f} s")
    a, b, c = st.columns(3)
    a.metric("Whole-number accuracy", wording.percent(mm["whole_number_accuracy"]),
             help="Right only when the length and every digit are right.")
    b.metric("Capstone per-position figure", wording.percent(mm["capstone_per_position_accuracy"]),
             help="The 2016 capstone's mean per-head correctness; not a whole-number accuracy.")
    c.metric("Coverage at 98% accuracy", wording.percent(mm["coverage"]["coverage_at_98"]),
             help="The share of images the model can answer, most confident first, keeping 98% accuracy.")
    if "whole_photo" in mm:
        w = mm["whole_photo"]
        a, b, c = st.columns(3)
        a.metric("Whole-photo accuracy", wording.percent(w["whole_photo_accuracy"]),
                 help=f"{w['correct']:,} of {w['count']:,} photos read right with no box given; the localizer "
                      f"{w['localizer']} found the number." + (f" {w['missing']:,} rows had no photo here."
                                                               if w["missing"] else ""))
        b.metric("Localizer mean IoU", f"{w['mean_iou']:.3f}",
                 help="Overlap of the box it found with the union of the digit boxes (1 = exact).")
        c.metric("Found (IoU ≥ 0.5)", wording.percent(w["found_at_iou_0.5"]))
        if w.get("by_stage"):
            st.markdown(f"Read with the **{w['pipeline']} pipeline**: which stage found the box each answer came "
                        "from, and why that box was chosen")
            for col, key in zip(st.columns(2), ("source", "reason"), strict=True):
                col.dataframe(view_model.stage_rows(w, key), hide_index=True, width="stretch",
                              key=f"stages_{s}_{key}")
        elif w.get("pipeline"):
            st.caption(f"Read with the {w['pipeline']} path (the scene-text models did not run).")


def grouped(title: str, key: str, x_key: str, x_title: str) -> go.Figure:
    fig = go.Figure()
    for s, r in done.items():
        items = [p for p in r.metrics[key] if p["count"]]
        fig.add_trace(go.Bar(x=[str(p[x_key]) for p in items], y=[p["accuracy"] for p in items], name=s,
                             marker_color=SPLIT_COLOURS.get(s), customdata=[p["count"] for p in items],
                             hovertemplate="%{x}: %{y:.1%} of %{customdata} images<extra>" + s + "</extra>"))
    fig.update_layout(title=title, barmode="group", xaxis_title=x_title, yaxis_title="accuracy", height=330,
                      margin=dict(t=50, b=40, l=50, r=10), yaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


g1, g2 = st.columns(2)
g1.plotly_chart(grouped("Whole-number accuracy by number length", "accuracy_by_length", "length",
                        "digits in the number"), width="stretch", key="by_length")
g2.plotly_chart(grouped("Per-position digit accuracy", "per_position_accuracy", "position", "position"),
                width="stretch", key="by_position")

g3, g4 = st.columns(2)
fig = go.Figure()
for s, r in done.items():
    curve = r.metrics["coverage"]["curve"]
    fig.add_trace(go.Scatter(x=[p["coverage"] for p in curve], y=[p["accuracy"] for p in curve], name=s,
                             mode="lines+markers", line=dict(color=SPLIT_COLOURS.get(s)),
                             customdata=[p["threshold"] for p in curve],
                             hovertemplate="answer %{x:.0%}: accuracy %{y:.1%}<br>confidence ≥ %{customdata:.3f}"
                             "<extra>" + s + "</extra>"))
fig.add_hline(y=0.98, line_dash="dot", annotation_text="98%", line_color="grey")
fig.update_layout(title="Accuracy vs coverage (answer only the most confident readings)",
                  xaxis_title="coverage (share of images answered)", yaxis_title="accuracy", height=350,
                  margin=dict(t=50, b=40, l=50, r=10), xaxis=dict(tickformat=".0%"), yaxis=dict(tickformat=".0%"))
g3.plotly_chart(fig, width="stretch", key="coverage")

s_last, r_last = list(done.items())[-1]
conf = r_last.metrics["length_confusion"]
labels = [str(v) for v in conf["labels"]]
hm = go.Figure(go.Heatmap(z=conf["matrix"], x=labels, y=labels, colorscale="Blues", texttemplate="%{z}",
                          hovertemplate="true %{y}, read %{x}: %{z}<extra></extra>"))
hm.update_yaxes(autorange="reversed", title="true length", type="category")
hm.update_xaxes(type="category")
hm.update_layout(title=f"Length confusion ({s_last})", xaxis_title="decoded length", height=350,
                 margin=dict(t=50, b=40, l=50, r=10))
g4.plotly_chart(hm, width="stretch", key="confusion")
with st.expander("Text summary"):
    for r in done.values():
        st.code(r.text, language=None)
