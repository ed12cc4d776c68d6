"""A dashboard reachable from a network: local paths off or fenced by INN_LAB_DATA_ROOTS, on the real pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from inn_core.data.local_paths import ROOTS_ENV

NEW = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "new_experiment.py")


@pytest.fixture()
def listening_on():
    def set_address(address: str) -> None:
        streamlit_config.set_option("server.address", address)

    yield set_address
    streamlit_config.set_option("server.address", "127.0.0.1")


def _pictures(folder: Path) -> Path:
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        for i in range(8):  # 16 samples: more than L = 10 neighbours need
            Image.new("L", (8, 8), color=30 * i).save(folder / cls / f"{i}.png")
    return folder


def _own_data_path_mode(home: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("INN_LAB_HOME", str(home))
    at = AppTest.from_file(NEW, default_timeout=60).run()
    at.selectbox(key="ne_dataset").set_value("own").run()
    at.radio(key="ne_byod_mode").set_value("path").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_exposed_without_roots_turns_local_paths_off_and_says_why(tmp_path, monkeypatch, listening_on):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    listening_on("0.0.0.0")
    at = _own_data_path_mode(tmp_path / "runs", monkeypatch)
    assert not [t for t in at.text_input if t.key == "ne_byod_path"]
    assert any("Reading folders of this machine is off" in i.value and ROOTS_ENV in i.value for i in at.info)
    at.selectbox(key="ne_dataset").set_value("imagefolder").run()
    at.text_input(key="ne_root").input(str(_pictures(tmp_path / "pics"))).run()
    assert any("Reading folders of this machine is off" in e.value for e in at.error)
    assert not at.metric  # no preview of the folder


def test_roots_fence_the_folder_field(tmp_path, monkeypatch, listening_on):
    allowed = _pictures(tmp_path / "data" / "pics")
    outside = _pictures(tmp_path / "elsewhere")
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "data"))
    listening_on("0.0.0.0")
    at = _own_data_path_mode(tmp_path / "runs", monkeypatch)
    at.text_input(key="ne_byod_path").input(str(outside)).run()
    at.button(key="ne_byod_check").click().run()
    assert [e.value for e in at.error] and "is outside the folders this server may read" in at.error[0].value
    at.text_input(key="ne_byod_path").input(str(allowed)).run()
    at.button(key="ne_byod_check").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any(m.label == "Training samples" and m.value == "16" for m in at.metric)
