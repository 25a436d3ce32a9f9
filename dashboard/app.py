"""svhn-reader dashboard: ``streamlit run dashboard/app.py`` from the repository root.

Every number and picture comes from ``svhn_api`` (``dashboard.view_model`` for the data views); the pages only
lay them out.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run without `pip install -e .` (e.g. in the Docker image)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import calls, selection  # noqa: E402

st.set_page_config(page_title="svhn-reader", page_icon=":house:", layout="wide")

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = [
    st.Page(VIEWS / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(VIEWS / "explore.py", title="Explore", icon=":material/bar_chart:"),
    st.Page(VIEWS / "preprocessing.py", title="Preprocessing check", icon=":material/crop:"),
    st.Page(VIEWS / "evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page(VIEWS / "predict.py", title="Predict", icon=":material/pin:"),
    st.Page(VIEWS / "training.py", title="Training", icon=":material/show_chart:"),
]

calls.keep_keras_state()
page = st.navigation(PAGES)
selection.init_data()
selection.sidebar_pickers()
page.run()
