"""Explore: counts per split, number-length and digit histograms, image sizes, samples with their boxes."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import calls, selection

SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}

st.title("Explore the data")
store = selection.require_store()
path = str(store.path)
stats = calls.store_stats(path, calls.mtime(path))
st.caption(f"`{path}` · {store.kind} · {store.info.crop} crop")

splits = [s for s, n in stats["counts"].items() if n]
if not splits:
    selection.no_rows(store)
cols = st.columns(len(stats["counts"]))
for col, (split, n) in zip(cols, stats["counts"].items(), strict=True):
    col.metric(f"{split} images", f"{n:,}")

shown = st.multiselect("Splits in the charts", splits, default=splits, key="explore_splits")


def bars(key: str, x: list[str], title: str, xtitle: str) -> go.Figure:
    fig = go.Figure([go.Bar(name=s, x=x, y=stats[key][s], marker_color=SPLIT_COLOURS.get(s)) for s in shown])
    fig.update_layout(title=title, barmode="group", xaxis_title=xtitle, yaxis_title="images" if key == "lengths"
                      else "digits", height=340, margin=dict(t=50, b=40, l=50, r=10), legend_title="split")
    fig.update_xaxes(type="category")
    return fig


c1, c2 = st.columns(2)
c1.plotly_chart(bars("lengths", ["1", "2", "3", "4", "5"], "Digits per number", "number length"),
                width="stretch")
c2.plotly_chart(bars("digits", [str(d) for d in range(10)], "Digit frequency (all positions)", "digit"),
                width="stretch")

fig = go.Figure()
for s in shown:
    sz = stats["sizes"][s]
    fig.add_trace(go.Scattergl(x=sz[:, 0], y=sz[:, 1], mode="markers", name=s, opacity=0.5,
                               marker=dict(size=4, color=SPLIT_COLOURS.get(s))))
fig.update_layout(title="Original photo sizes", xaxis_title="width (px)", yaxis_title="height (px)",
                  height=380, margin=dict(t=50, b=40, l=50, r=10), legend_title="split")
if any(stats["size_rows"][s] > len(stats["sizes"][s]) for s in shown):
    fig.add_annotation(text="a random sample of each split", showarrow=False, xref="paper", yref="paper",
                       x=1, y=1.08)
st.plotly_chart(fig, width="stretch")

st.subheader("Samples with their digit boxes")
st.caption("The stored model input (the expanded union box, 64x64) with each digit's original box mapped "
           "into it." if store.info.crop == "union" else
           "The stored model input (the capstone's 32x32 digit strip; boxes do not map onto it).")
f1, f2, f3 = st.columns([2, 2, 1])
split = f1.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="grid_split")
length_label = f2.selectbox("Number length", ["any", "1", "2", "3", "4", "5"], key="grid_length")
if "grid_seed" not in st.session_state:
    st.session_state.grid_seed = 0
if f3.button("Other samples", key="grid_next", width="stretch"):
    st.session_state.grid_seed += 1
length = None if length_label == "any" else int(length_label)
samples = calls.sample_grid(path, calls.mtime(path), split, length, 24, st.session_state.grid_seed)
if not samples:
    st.info(f"No {length_label}-digit numbers in the {split} split.")
per_row = 8
for i in range(0, len(samples), per_row):
    row = st.columns(per_row)
    for col, s in zip(row, samples[i:i + per_row], strict=False):
        col.image(s.image, caption=f"#{s.index} · {s.number}", width="stretch")
