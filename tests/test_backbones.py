"""torchvision backbones by name, weights from a local file (never a download in tests)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from inn_core.errors import InputError
from inn_core.method.backbones import suggested_image_size, torchvision_models
from inn_core.method.models import create_model


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet18.pt"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_resnet18_from_a_weights_file_exposes_its_penultimate_features(resnet18_weights):
    model = create_model(
        "tv:resnet18", num_classes=4, in_channels=3, image_size=32, weights=str(resnet18_weights), seed=0
    ).eval()
    saved = torch.load(resnet18_weights, weights_only=True)
    # The backbone carries the file's weights; the head is new, for 4 classes.
    assert torch.equal(model.body.net.conv1.weight, saved["conv1.weight"])
    assert model.feature_dim == 512 and model.head.out_features == 4
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert model.features(x).shape == (2, 512) and model(x).shape == (2, 4)
        # Features are the reference network's penultimate layer on the normalised input.
        ref = torchvision.models.resnet18(weights=None)
        ref.load_state_dict(saved)
        ref.fc = torch.nn.Identity()
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        torch.testing.assert_close(model.features(x), ref.eval()((x - mean) / std), rtol=1e-5, atol=1e-5)
    gray = create_model("tv:resnet18", num_classes=2, in_channels=1, image_size=32, weights=str(resnet18_weights))
    assert gray(torch.rand(2, 1, 32, 32)).shape == (2, 2)


def test_weights_fine_tuned_for_other_classes_load(tmp_path):
    net = torchvision.models.resnet18(weights=None, num_classes=7)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "ft.pt")
    model = create_model("tv:resnet18", num_classes=3, in_channels=3, image_size=32, weights=str(tmp_path / "ft.pt"))
    assert torch.equal(model.body.net.layer1[0].conv1.weight, net.layer1[0].conv1.weight)


def test_weights_of_another_model_are_one_clear_error(tmp_path):
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pt")
    with pytest.raises(InputError, match=r"does not match torchvision's resnet18: .*unexpected \(e\.g\. layer"):
        create_model("tv:resnet18", num_classes=3, in_channels=3, image_size=32, weights=str(tmp_path / "r34.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable torch state_dict"):
        create_model("tv:resnet18", num_classes=3, in_channels=3, image_size=32, weights=str(tmp_path / "junk.pt"))


def test_unknown_name_lists_close_names():
    assert "resnet50" in torchvision_models()
    with pytest.raises(InputError, match=r"unknown torchvision model 'resnet19'; close names: .*resnet18"):
        create_model("tv:resnet19", num_classes=3, in_channels=3, image_size=32)


def test_suggested_size_comes_from_the_weights_metadata():
    assert suggested_image_size("resnet18") == 224
    assert suggested_image_size("tv:inception_v3") == 299


@pytest.fixture
def pics(tmp_path):
    from PIL import Image

    for k, cls in enumerate(("a", "b")):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40, 30), (60 * k + 10 * i, 20, 0)).save(tmp_path / "pics" / cls / f"{i}.png")
    return tmp_path / "pics"


def test_cli_runs_an_own_folder_with_a_backbone_from_a_weights_file(resnet18_weights, pics, tmp_path, capsys):
    from inn_core.cli import main
    from inn_core.runs.store import RunStore

    args = [
        "--home",
        str(tmp_path / "runs"),
        "run",
        "--dataset",
        "imagefolder",
        "--data-root",
        str(pics),
        "--noise",
        "none",
        "--backbone",
        "resnet18",
        "--weights",
        str(resnet18_weights),
        "--device",
        "cpu",
        "--data-option",
        "image_size=32",
        "--epochs",
        "1",
        "--L",
        "2",
        "--H",
        "1",
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "estimated time: about" in out and "tv:resnet18 at 32 px" in out
    (run,) = RunStore(tmp_path / "runs").list_runs()
    assert run.status == "done" and run.config["model"] == "tv:resnet18"
    assert run.config["weights"] == str(resnet18_weights) and run.config["data_options"]["resize"] == "crop"


def test_cli_unknown_backbone_and_bad_weights_are_one_line(pics, tmp_path, capsys):
    from inn_core.cli import main

    assert main(["--home", str(tmp_path), "run", "--backbone", "resnet19"]) == 2
    assert "close names: resnet18" in capsys.readouterr().err
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pt")
    assert (
        main(
            [
                "--home",
                str(tmp_path),
                "run",
                "--dataset",
                "imagefolder",
                "--data-root",
                str(pics),
                "--L",
                "2",
                "--quiet",
                "--noise",
                "none",
                "--data-option",
                "image_size=32",
                "--backbone",
                "resnet18",
                "--weights",
                str(tmp_path / "r34.pt"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match torchvision's resnet18" in err
