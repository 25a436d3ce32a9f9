"""Preprocessing check: one image at a time, from the original photo to what the model receives."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import calls, selection, view_model
from svhn_api.errors import SVHNError

st.title("Preprocessing check")
st.markdown("One image at a time: the original photo with its digit boxes, the union of the boxes, that box "
            "expanded by 30%, the crop the store holds, and what the network's first layer receives. "
            "The 2016 capstone's digit-stacking mode is shown beside it.")
store = selection.require_store()
path = str(store.path)
splits = [s for s, n in store.info.counts.items() if n]
if not splits:
    selection.no_rows(store)
c1, c2, c3 = st.columns([2, 2, 1])
split = c1.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="pre_split")
n = store.info.counts[split]
if st.session_state.get("pre_index", 0) >= n:
    st.session_state.pre_index = 0
if c3.button("Random image", key="pre_random", width="stretch"):
    st.session_state.pre_index = int(np.random.default_rng().integers(n))


def into_range(last: int) -> None:
    """A number typed past either end becomes the first or last image. The field has no bounds of its own: the
    browser would keep an out-of-range number (with its red error) over any value set here, "Random image"'s
    included."""
    st.session_state.pre_index = min(max(0, int(st.session_state.pre_index)), last)


index = c2.number_input(f"Image (0 – {n - 1})", step=1, key="pre_index", on_change=into_range,
                        args=(n - 1,), help="Past the last image: the last one; below 0: the first one.")
index = min(max(0, int(index)), n - 1)


@st.cache_data(show_spinner="Reading the original photo from its archive (the first one indexes it)…",
               max_entries=32)
def view_of(path: str, version: float, split: str, index: int) -> view_model.RowView:
    return view_model.row_view(path, split, index)


try:
    view = view_of(path, calls.mtime(path), split, int(index))
except SVHNError as e:
    st.error(str(e))
    st.stop()

st.markdown(f"**{view.number}** · {len(view.number)}"
            f" digit(s) · `{view.source}/{view.filename}` · original {view.size[0]}x{view.size[1]} px")
model = selection.current_model()

if view.original is None:
    st.info(f"Original photo not shown: {view.missing}")
else:
    big = view.steps["boxes"]
    st.image(big, width=min(big.width, 900), caption="Original photo: digit boxes (green), their union (blue), "
             f"the union expanded by 30% (red) · enlarged from {view.size[0]}x{view.size[1]} px")
    u = view.rects.get("union")
    assert u is not None   # row_view draws the union box whenever it has the original photo
    ex = view.rects.get("expanded")
    st.caption(f"union box left {u[0]:.0f}, top {u[1]:.0f}, {u[2]:.0f}x{u[3]:.0f} px"
               + (f" · expanded crop left {ex[0]:.0f}, top {ex[1]:.0f}, {ex[2]:.0f}x{ex[3]:.0f} px" if ex else ""))

st.subheader("Union crop (Goodfellow et al. 2013) — the shipped model's input")
cols = st.columns(3)
if view.crop_mode == "union":
    cols[0].image(view_model.upscale(view.stored, 3), caption="stored in the HDF5 store (64x64 RGB)", width=192)
    if "union" in view.steps:
        same = np.array_equal(np.asarray(view.steps["union"]), view.stored)
        cols[1].image(view_model.upscale(view.steps["union"], 3), caption="recomputed from the original photo",
                      width=192)
        (cols[1].success if same else cols[1].error)(
            "identical to the stored crop" if same else "differs from the stored crop: the store was made by "
            "another library version or from other archives")
    seen, prep, whose = calls.network_input(model, view.stored)
    cols[2].image(view_model.upscale(seen, max(1, 192 // seen.width)), width=192,
                  caption=f"what the network receives: centre {prep['crop'] or 'whole'} crop, resized to "
                  f"{prep['size'] or seen.width}x{prep['size'] or seen.height}{', gray' if prep['gray'] else ''}, "
                  f"then normalised (inside the model; {whose})" if prep else
                  f"what the network receives: not known ({whose})")
else:
    cols[0].image(view_model.upscale(view.stored, 6), caption="stored in the HDF5 store (the capstone's 32x32 "
                  "gray strip)", width=192)
    if "union" in view.steps:
        cols[1].image(view_model.upscale(view.steps["union"], 3), caption="the union crop this photo would give",
                      width=192)

st.subheader("Digit stacking (the 2016 capstone)")
if "capstone_tiles" in view.steps:
    s1, s2 = st.columns([2, 1])
    tiles = view.steps["capstone_tiles"]
    s1.image(view_model.upscale(tiles, 3), caption="each digit box cropped and resized to 32x32 gray, side by side",
             width=min(96 * (tiles.width // 32), 480))
    s2.image(view_model.upscale(view.steps["capstone"], 6), caption="the strip resized to 32x32: the capstone's input",
             width=192)
    if view.crop_mode == "capstone":
        same = np.array_equal(np.asarray(view.steps["capstone"]), view.stored[:, :, 0])
        (s2.success if same else s2.error)("identical to the stored strip" if same else "differs from the stored "
                                           "strip")
else:
    st.caption("Needs the original photo.")
