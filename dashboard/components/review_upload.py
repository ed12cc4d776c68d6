"""Bring your own data: an uploaded archive, or a folder / CSV on this machine, checked and ready to run.

``upload_data_widget(key)`` draws the choice and returns ``(dataset_name, root)`` for
:class:`~inn_core.runs.experiment.ExperimentConfig` (``dataset=..., data_root=root``) once the data has
been checked - every image read, every CSV path found - or ``None`` until then. Archives are
unpacked by :mod:`inn_core.data.archive` into ``<home>/uploads/<name>/``; the result is remembered in
``st.session_state[f"{key}_data"]`` so it survives reruns.
"""

from __future__ import annotations

import streamlit as st

from dashboard.components.common import checked_local_path, local_paths_off, store_home, user_errors
from inn_core.data.archive import (
    ARCHIVE_SUFFIXES,
    MAX_ARCHIVE_BYTES,
    UploadedData,
    describe_dataset,
    detect_dataset,
    import_archive,
)

__all__ = ["upload_data_widget"]

MODES = {"archive": "Upload an archive", "path": "A folder or CSV on this machine"}


def _summary(data: UploadedData) -> None:
    counts = ", ".join(f"{name}: {count}" for name, count in zip(data.class_names, data.class_counts))
    kind = "image folder" if data.dataset == "imagefolder" else "CSV of paths and labels"
    st.success(
        f"{data.n} images in {len(data.class_names)} classes ({kind}, `{data.root}`) - {counts}",
        icon=":material/check_circle:",
    )


def upload_data_widget(key: str) -> tuple[str, str] | None:
    """Let the user bring an image folder or a CSV of ``filepath,label``; returns ``(dataset, root)`` or None.

    An archive (.zip, .tar, .tar.gz, .tgz) holds either one sub-folder of images per class or a CSV
    with columns ``filepath,label`` (paths relative to the CSV) beside the images. Bad input - an
    archive member outside its folder, an unreadable image, a CSV naming missing files - is shown
    with ``st.error`` and nothing is kept of it.
    """
    state_key = f"{key}_data"
    mode = st.radio("Your data", list(MODES), format_func=MODES.__getitem__, key=f"{key}_mode", horizontal=True)
    if mode == "archive":
        upload = st.file_uploader(
            "Archive of images",
            type=[s.lstrip(".") for s in ARCHIVE_SUFFIXES] + ["gz"],
            key=f"{key}_file",
            help=f"one sub-folder per class, or a CSV filepath,label beside the images; "
            f"at most {MAX_ARCHIVE_BYTES // 1024**2} MB",
        )
        name = st.text_input(
            "Name for this data", key=f"{key}_name", placeholder=upload.name if upload is not None else "my-images"
        )
        if st.button("Unpack and check", key=f"{key}_unpack", disabled=upload is None, icon=":material/unarchive:"):
            st.session_state.pop(state_key, None)
            with user_errors(), st.spinner("Unpacking and reading every image..."):
                st.session_state[state_key] = import_archive(
                    store_home(), upload.name, upload, name=name.strip() or None
                )
    elif (off := local_paths_off()) is not None:
        st.info(off, icon=":material/lock:")
    else:
        path = st.text_input(
            "Folder (one sub-folder per class) or CSV file",
            key=f"{key}_path",
            placeholder="/data/my-images or /data/labels.csv",
        )
        if st.button("Check", key=f"{key}_check", disabled=not path.strip(), icon=":material/folder_open:"):
            st.session_state.pop(state_key, None)
            with user_errors(), st.spinner("Reading every image..."):
                dataset, root = detect_dataset(checked_local_path(path.strip()))
                st.session_state[state_key] = describe_dataset(dataset, root)
    data: UploadedData | None = st.session_state.get(state_key)
    if data is None:
        return None
    _summary(data)
    return data.dataset, str(data.root)
