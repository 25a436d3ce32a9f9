"""Predict: read the house number in a test image or in an uploaded photo."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import calls, selection, view_model, wording
from svhn_api.data.images import load_image
from svhn_api.errors import SVHNError
from svhn_api.inference.predict import Pipeline, Prediction, default_pipeline

PER_PAGE = 40
COLUMNS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "none"]
BOX_KEYS = ("pred_use_box", "box_left", "box_top", "box_width", "box_height")
ROWS = ["length", "digit 1", "digit 2", "digit 3", "digit 4", "digit 5"]
SPEEDS: dict[str, Pipeline] = {"Full pipeline (with the scene-text models)": "full", "Fast path (ours alone)": "fast"}

st.title("Read a house number")
entry = selection.require_model()


def heatmap(probs: np.ndarray) -> go.Figure:
    """The reader's 66 probabilities: the length head (classes 0-5, 6 = more than five) and the five digit positions."""
    p = np.asarray(probs, dtype=float)
    hover = [[f"length {c}" + (" (more than 5)" if c == 6 else "") if r == 0 and c <= 6 else
              ("–" if r == 0 else f"position {r}: {COLUMNS[c]}") for c in range(11)] for r in range(6)]
    z = p.copy()
    z[0, 7:] = np.nan  # the length head has 7 classes only
    text = [["" if np.isnan(v) else (f"{v:.2f}" if v >= 0.005 else "") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=COLUMNS, y=ROWS, zmin=0, zmax=1, colorscale="Blues", text=text,
                               texttemplate="%{text}", customdata=hover, colorbar=dict(title="p"),
                               hovertemplate="%{customdata}<br>probability %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(type="category", side="top")
    fig.update_layout(title="Our reader's 66 probabilities (the chosen box)", height=330,
                      margin=dict(t=70, b=10, l=70, r=10))
    return fig


def show(result: Prediction, seconds: float, truth: str | None = None) -> None:
    unsure = wording.is_unsure(result)
    threshold, what = view_model.sure_threshold(result, entry.card)
    full = result.pipeline == "full"
    c1, c2, c3 = st.columns(3)
    if unsure:
        c1.metric("Best guess (unsure)", f"{result.number or '–'} ?")
    else:
        c1.metric("Reading", result.number or "–")
    c2.metric("Confidence", wording.percent(float(result.confidence)),
              help=wording.CONFIDENCE_MEANS["full" if full else "fast"])
    c3.metric("Answered in", f"{1000 * seconds:.0f} ms", help=wording.runtime_line(result))
    st.markdown(wording.pipeline_line(result, threshold, what))
    st.caption(wording.runtime_line(result))
    if unsure:
        st.warning(f"Unsure: {wording.percent_beside(float(result.confidence), threshold or 0.5)} is under "
                   f"{wording.unsure_line(result, threshold, what)}, so this is a guess, not a reading. Check the "
                   "photo (is there a house number in it?) or give the number's box.")
    if truth is not None:
        (st.success if truth == result.number else st.error)(
            f"Truth: {truth} — {'right' if truth == result.number else 'wrong'}")
    if full and result.why:
        st.markdown(f"**Why this reading:** {result.why}.")
        st.dataframe(view_model.candidate_rows(result), hide_index=True, width="stretch", key="candidates",
                     column_config={"our reader": st.column_config.TextColumn(
                         help="Our reader (with the digit classifier): its reading of the box and its probability"),
                         "recognizer": st.column_config.TextColumn(
                             help="The pretrained scene-text recognizer: the digits it read, its text where that "
                                  "holds more, and its score"),
                         "chosen": st.column_config.TextColumn(help="The candidate the answer came from")})
    alternatives = result.to_dict().get("alternatives", [])
    st.markdown("**Our reader's next best readings** (its probabilities, not the confidence above): " + (" · ".join(
        f"{a['number']} ({wording.percent(a['probability'])})" for a in alternatives) or "none"))
    assert result.probabilities is not None   # calls.read_number raised for a reading with an error
    st.plotly_chart(heatmap(result.probabilities), width="stretch", key="heatmap")
    st.caption("Our reader's view of " + ("the chosen box" if full else "the box read") + ": rows are the length "
               "head (columns 0-6 are the number of digits; 6 = more than five) and the five digit positions "
               "(columns 0-9, and 'none' for no digit at that position)."
               + (" The answer may come from the recognizer instead (see why above)." if full else ""))


pipeline: Pipeline = "fast"
if default_pipeline() == "full":
    speed = st.radio("Speed", list(SPEEDS), horizontal=True, key="pred_pipeline",
                     help="The full pipeline reads every candidate box with our reader and the scene-text "
                          "recognizer; the fast path is ours alone.")
    pipeline = SPEEDS[speed]
else:
    st.caption("Fast path only: the scene-text models (artifacts/models/text-detector, text-recognizer) are not "
               "installed.")

source = st.radio("Image", ["From the test split", "Upload a photo"], horizontal=True, key="pred_source")

if source == "From the test split":
    store = selection.require_store()
    path = str(store.path)
    if not store.info.counts.get("test"):
        selection.no_rows(store, "test" if any(store.info.counts.values()) else None)
    split = "test"
    n = store.info.counts[split]
    if st.session_state.get("pred_index", 0) >= n:
        st.session_state.pred_index = 0
    index = st.number_input(f"Index in the {split} split (0 – {n - 1})", 0, n - 1, step=1, key="pred_index")
    sample = view_model.sample_grid(path, split, [int(index)], scale=1, draw=False)[0]
    a, b = st.columns([1, 4])
    caption = f"{split} #{sample.index} · {sample.filename}"
    try:
        result, seconds = calls.read_number(entry, np.asarray(sample.image), photo=False, pipeline=pipeline)
    except SVHNError as e:
        a.image(view_model.upscale(sample.image, 3), caption=caption)
        b.error(str(e))
    else:
        a.image(view_model.photo_with_candidates(sample.image, result, width=192),
                caption=caption + (" · the candidate boxes, the chosen one in red" if result.candidates else ""))
        with b:
            show(result, seconds, truth=sample.number)

    def pick(i: int) -> None:
        st.session_state.pred_index = i

    with st.expander(f"Gallery: the first {min(n, 200)} {split} images (click one to read it)"):
        items = calls.gallery(path, calls.mtime(path), split, 200)
        pages = max(1, -(-len(items) // PER_PAGE))
        page = st.radio("Page", list(range(1, pages + 1)), horizontal=True, key="gallery_page") if pages > 1 \
            else 1
        chunk = items[(page - 1) * PER_PAGE:page * PER_PAGE]
        for r in range(0, len(chunk), 10):
            cols = st.columns(10)
            for col, s in zip(cols, chunk[r:r + 10], strict=False):
                col.image(view_model.upscale(s.image, 1), width="stretch")
                col.button(f"#{s.index}", key=f"g{s.index}", on_click=pick, args=(s.index,), width="stretch")
else:
    up = st.file_uploader("A photo of a house number (PNG or JPEG, up to 10 MB)", type=["png", "jpg", "jpeg"],
                          max_upload_size=10, key="pred_upload")
    if up is None:
        st.info("Upload a photo: the localizer finds the number in it (when one is installed) and the reader reads "
                "it. If you know where the number is, give its box below (left, top, width, height in pixels).")
        st.stop()
    data = up.getvalue()
    if st.session_state.get("pred_photo") != up.file_id:   # a new photo: no box, no reading of the last one
        for key in BOX_KEYS:
            st.session_state.pop(key, None)
        st.session_state.pred_photo = up.file_id
    try:
        if len(data) > calls.MAX_UPLOAD_BYTES:
            raise SVHNError(f"{up.name}: {len(data):,} bytes is over the 10 MB upload limit; resize the photo")
        img = load_image(data, name=up.name)
    except SVHNError as e:
        st.error(f"Could not read {e}")
        st.stop()
    found = st.session_state.get("pred_found")   # (photo id, the box the localizer found in it) of the last read
    use_box = st.checkbox("I know where the number is: give its box", key="pred_use_box",
                          help="The box starts as the one the localizer found (or the whole photo without one); "
                          "correct it if it is off.")
    box = None
    if use_box:
        if not found or found[0] != up.file_id:   # ticked before a reading without a box: find it first
            try:
                first, _ = calls.read_number(entry, img, name=up.name, pipeline=pipeline)
            except (SVHNError, ValueError):
                first = None
            found = (up.file_id, first.box if first is not None and first.located else None)
            st.session_state.pred_found = found
        start = view_model.rounded_box(found[1], img.size) if found[1] else (0, 0, img.width, img.height)
        c = st.columns(4)
        left = c[0].number_input("left", 0, img.width - 1, start[0], key="box_left")
        top = c[1].number_input("top", 0, img.height - 1, start[1], key="box_top")
        width = c[2].number_input("width", 1, img.width, start[2], key="box_width")
        height = c[3].number_input("height", 1, img.height, start[3], key="box_height")
        box = (float(left), float(top), float(width), float(height))
    a, b = st.columns([5, 2], vertical_alignment="top")
    try:
        result, seconds = calls.read_number(entry, img, box, name=up.name, pipeline=pipeline)
    except (SVHNError, ValueError) as e:
        a.image(view_model.photo_with_box(img, None), caption=f"{up.name} · {img.width}x{img.height}")
        b.error(wording.read_failed(up.name, e))
        st.stop()
    if box is None:
        st.session_state.pred_found = (up.file_id, result.box if result.located else None)
    if box:
        where = "your box in red"
    elif len(result.candidates) > 1:
        where = "every candidate box, numbered as in the table; the chosen one in red"
    elif result.located:
        where = "the number found, in red"
    else:
        where = "read whole (no localizer installed)"
    a.image(view_model.photo_with_box(img, box) if box else view_model.photo_with_candidates(img, result),
            width="stretch", caption=f"{up.name} · {img.width}x{img.height} · {where}")
    read_box = box or result.box
    b.image(view_model.reader_crop(img, read_box, calls.model(entry).input_shape), width="stretch",
            caption="What the reader read: " + ("the whole photo" if read_box is None else
                                                 "the box expanded by 30%") + ", resized to "
            f"{'x'.join(map(str, calls.model(entry).input_shape[:2]))} and enlarged")
    show(result, seconds)
