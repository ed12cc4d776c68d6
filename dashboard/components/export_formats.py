"""Export page: the reviewed run in the ecosystem's formats (image folder, Hugging Face, Label Studio, Datalab), zipped.

Building a format writes images, so it happens on a click, not on every rerun; the zip is kept in
``st.session_state["export_built"]`` together with the decision count it was built from, and a
decision taken since (in another tab) makes the page ask for a rebuild instead of serving stale files.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from inn_core.errors import InputError
from inn_core.runs.store import RunStore
from inn_core.views.exports import EXPORT_FORMATS, export

__all__ = ["format_downloads"]

FORMATS = {
    "imagefolder": "Image folder (torchvision ImageFolder)",
    "hf": "Hugging Face datasets (save_to_disk)",
    "labelstudio": "Label Studio tasks (JSON)",
    "datalab": "cleanlab Datalab issues (CSV)",
}


def _stamp(store: RunStore, run_id: str) -> tuple[str, int, int]:
    log = store.decision_log(run_id)
    return run_id, len(log), sum(d.undone for d in log)


def _build(store: RunStore, run_id: str, fmt: str) -> None:
    buf = io.BytesIO()
    try:
        with tempfile.TemporaryDirectory() as folder:
            export(store, run_id, folder, format=fmt)
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(Path(folder).rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(folder).as_posix())
    except InputError as exc:
        st.session_state["export_error"] = str(exc)
        return
    st.session_state["export_built"] = {"stamp": _stamp(store, run_id), "format": fmt, "zip": buf.getvalue()}


def format_downloads(store: RunStore, run_id: str) -> None:
    """A format picker, a Build button and the zip's download button."""
    fmt = st.selectbox("Format", list(FORMATS), format_func=FORMATS.__getitem__, key="export_format")
    what = EXPORT_FORMATS[fmt]
    st.caption(what[:1].upper() + what[1:] + f". Same as `python -m inn_core export {run_id} --format {fmt} -o DIR`.")
    if error := st.session_state.pop("export_error", None):
        st.error(error, icon=":material/error:")
    built = st.session_state.get("export_built")
    fresh = bool(built) and built["format"] == fmt and built["stamp"] == _stamp(store, run_id)
    build, download = st.columns(2)
    build.button(
        "Rebuild" if fresh else "Build",
        key="export_build",
        icon=":material/build:",
        on_click=_build,
        args=(store, run_id, fmt),
        help="writes the cleaned set with the decisions as they stand now",
    )
    if fresh:
        download.download_button(
            f"Download {fmt} ({len(built['zip']) / 1e6:.1f} MB zip)",
            built["zip"],
            file_name=f"{run_id}_{fmt}.zip",
            mime="application/zip",
            key="export_zip",
            icon=":material/download:",
            on_click="ignore",
            type="primary",
        )
