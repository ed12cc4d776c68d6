"""INN Lab dashboard - the frame shared by every page.

Run with ``make run`` (or ``streamlit run dashboard/app.py``). The run store lives in
``$INN_LAB_HOME`` (default ``./runs``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.components.access import require_access  # noqa: E402
from dashboard.components.common import store_home  # noqa: E402

# No sidebar: the pages sit in a top bar, which folds into a menu on narrow windows, so an 800 px
# window keeps its whole width for the page ("auto" would only collapse a sidebar below 768 px).
st.set_page_config(page_title="INN Lab", page_icon=":mag:", layout="wide", initial_sidebar_state="collapsed")
require_access()

PAGES = Path(__file__).parent / "app_pages"
navigation = st.navigation(
    {
        "Learn": [
            st.Page(PAGES / "consistency.py", title="The consistency effect", icon=":material/school:", default=True),
        ],
        "Experiment": [
            st.Page(PAGES / "new_experiment.py", title="New experiment", icon=":material/science:"),
            st.Page(PAGES / "auc.py", title="AUC across epochs", icon=":material/show_chart:"),
            st.Page(PAGES / "histograms.py", title="Score histograms", icon=":material/bar_chart:"),
            st.Page(PAGES / "robust.py", title="Robust training", icon=":material/shield:"),
        ],
        "Clean": [
            st.Page(PAGES / "review.py", title="Review", icon=":material/fact_check:"),
            st.Page(PAGES / "embedding.py", title="Embedding map", icon=":material/scatter_plot:"),
            st.Page(PAGES / "export.py", title="Export", icon=":material/download:"),
        ],
    },
    position="top",
)
navigation.run()
st.caption(f"Run store: `{store_home()}`")
