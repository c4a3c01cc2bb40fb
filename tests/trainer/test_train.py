import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.utils.factories import TRASHNET, real_samples
from wastesort import WastesortError
from wastesort.data import by_split, class_counts, load_samples
from wastesort.preprocess import eval_transform, load_image_file
from wastesort.recipe import PRESETS, TrainConfig
from wastesort_trainer.export import export_onnx
from wastesort_trainer.models import load_classifier
from wastesort_trainer.train import (
    _lr_factor,
    balanced_sampler,
    build_model,
    class_weights,
    cutmix,
    freeze_leading_groups,
    plan_epochs,
    pull_to_start,
    run,
)


def test_tiny_training_run_changes_weights_writes_artifact_and_resumes(tmp_path):
    cfg = TrainConfig(**PRESETS["tiny"])
    train, val = real_samples("train", 2), real_samples("val", 1)
    result = run(cfg, train, val, tmp_path / "run", show_bar=False)
    best = tmp_path / "run" / "best"
    assert (best / "model.safetensors").is_file() and (best / "config.json").is_file()
    assert (tmp_path / "run" / "last.pt").is_file()
    card = json.loads((best / "config.json").read_text())
    assert card["architecture"] == "tf_efficientnet_lite0"
    assert card["dataset"]["train"] == 12 and card["metrics"]["val"]["n"] == 6
    assert len(result.history) == 1
    row = result.history[0]  # where the epoch's time went: tiny preset = 2 steps, every stage timed
    stages = [row[f"seconds_{k}"] for k in ("data", "forward", "backward", "optimizer", "validate")]
    assert row["steps"] == 2 and all(s > 0 for s in stages) and sum(stages) <= row["seconds"]
    # training moved the (zero-initialised) head away from uniform
    assert result.model.get_classifier().weight.abs().sum() > 0
    # resuming a finished run trains nothing more and returns the same best weights
    again = run(cfg, train, val, tmp_path / "run", show_bar=False)
    assert len(again.history) == 1
    for k, v in result.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v)


def test_onnx_export_matches_pytorch_on_real_images(artifact):
    loaded = load_classifier(artifact)
    tf = eval_transform(loaded.card.pretrained_cfg)
    batch = np.stack([tf(load_image_file(s.path)) for s in real_samples("test", 1)])
    diff = export_onnx(loaded.model, loaded.card, artifact, sample=batch)
    assert diff < 1e-3
    sess = ort.InferenceSession(str(artifact / "model.onnx"))
    got = sess.run(None, {"input": batch})[0]
    with torch.no_grad():
        want = loaded.model(torch.from_numpy(batch)).numpy()
    assert got.shape == (6, 6)
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_progressive_resizing_trains_small_first_and_serves_at_full_size(tmp_path):
    cfg = TrainConfig(**{**PRESETS["tiny"], "epochs": 3, "low_res_epochs": 2, "low_res_size": 48})
    result = run(cfg, real_samples("train", 2), real_samples("val", 1), tmp_path, show_bar=False)
    assert [h["train_size"] for h in result.history] == [48, 48, 64]
    assert result.card.pretrained_cfg.input_size == 64  # validated, exported and served at full size
    # a low-res size at or above the input size is ignored, not an upscale
    again = run(TrainConfig(**{**PRESETS["tiny"], "low_res_epochs": 1, "low_res_size": 96}),
                real_samples("train", 1), real_samples("val", 1), tmp_path / "b", show_bar=False)
    assert again.history[0]["train_size"] == 64


def test_the_time_budget_plans_the_epochs_that_fit_and_only_ever_shortens():
    cfg = TrainConfig(epochs=20, time_budget_min=45, calibrate=True)
    # the default on a family 23 model 1 EPYC: probe + masks ~6 min, then 3.3 min epochs with 16 s of val
    assert plan_epochs(cfg, 1, 6 * 60 + 200, 200, 16) == 1 + int((45 * 60 - 560 - 8 * 16) // 200) == 11
    assert plan_epochs(cfg, 1, 60, 50, 5) == 20  # a fast CPU keeps the whole schedule
    assert plan_epochs(cfg, 5, 600, 60, 5, planned=11) == 11  # a faster pace later does not lengthen it
    assert plan_epochs(cfg, 5, 44 * 60, 200, 16, planned=11) == 5  # over budget: stop after this epoch
    assert plan_epochs(cfg.model_copy(update={"time_budget_min": 0}), 1, 1e6, 1e3, 10) == 20  # 0: no bound
    quick = TrainConfig(**PRESETS["quick"])  # no calibration: less is held back for the end
    assert plan_epochs(quick, 1, 150, 140, 10) == 4


def test_a_run_over_its_time_budget_ends_its_schedule_early_and_records_why(tmp_path):
    cfg = TrainConfig(**{**PRESETS["tiny"], "epochs": 3, "time_budget_min": 1e-4, "warmup_epochs": 0})
    result = run(cfg, real_samples("train", 1), real_samples("val", 1), tmp_path, show_bar=False)
    assert [h["planned_epochs"] for h in result.history] == [1]
    assert result.card.metrics["epochs"] == {"run": 1, "planned": 1, "time_budget_min": 1e-4}
    # a shortened plan ends the cosine schedule at its last epoch: the floor lr there, not mid-way
    assert _lr_factor(cfg, 3, 2, epochs=2) < 0.2 < 0.5 < _lr_factor(cfg, 3, 2, epochs=3)


def test_frozen_leading_groups_keep_their_pretrained_weights_and_the_rest_learns(tmp_path):
    cfg = TrainConfig(**{**PRESETS["tiny"], "freeze_groups": 3})
    start = {k: v.clone() for k, v in build_model(cfg)[0].named_parameters()}
    result = run(cfg, real_samples("train", 2), real_samples("val", 1), tmp_path, show_bar=False)
    after = dict(result.model.named_parameters())
    frozen = [k for k in start if k.startswith(("conv_stem.", "bn1.", "blocks.0.", "blocks.1."))]
    learned = [k for k in start if k.startswith("blocks.5.")]
    assert frozen and learned
    for k in frozen:
        torch.testing.assert_close(after[k].cpu(), start[k])
    assert any(not torch.equal(after[k].cpu(), start[k]) for k in learned)


def test_lp_ft_starts_from_the_probe_keeps_batchnorm_statistics_and_wise_ft_blends_the_two_ends(tmp_path):
    cfg = TrainConfig(**{**PRESETS["tiny"], "head_init": "probe", "freeze_bn": True, "wise_alpha": 0.25})
    train, val = real_samples("train", 2), real_samples("val", 1)
    result = run(cfg, train, val, tmp_path, show_bar=False)
    probe = load_classifier(tmp_path / "probe").model.state_dict()
    tuned = load_classifier(tmp_path / "finetuned").model.state_dict()
    served = load_classifier(tmp_path / "best").model.state_dict()
    # the probe is a fitted head on the untouched backbone: its head is not the zero init
    assert probe["classifier.weight"].abs().sum() > 0
    assert torch.equal(probe["conv_stem.weight"], build_model(cfg)[0].state_dict()["conv_stem.weight"])
    # frozen BatchNorm: running statistics are the pretrained ones at both ends
    stats = [k for k in probe if k.endswith("running_mean")]
    assert stats and all(torch.equal(probe[k], tuned[k]) for k in stats)
    # training moved the head, and the served weights are 0.75 x probe + 0.25 x fine-tuned
    assert not torch.equal(probe["classifier.weight"], tuned["classifier.weight"])
    for k in ("classifier.weight", "blocks.5.0.conv_pw.weight"):
        torch.testing.assert_close(served[k], 0.75 * probe[k] + 0.25 * tuned[k])
    assert result.card.metrics["wise_ft"]["alpha"] == 0.25
    # finalizing again (a resumed run) blends from the kept fine-tuned end, not from the blend
    again = run(cfg, train, val, tmp_path, show_bar=False)
    torch.testing.assert_close(again.model.state_dict()["classifier.weight"].cpu(), served["classifier.weight"])


def test_pull_to_start_moves_each_tensor_its_groups_share_of_the_way_back():
    near, far = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([{"params": [near], "lr": 0.1}, {"params": [far], "lr": 0.01}])
    start = {near: torch.zeros(3), far: torch.zeros(3)}
    with torch.no_grad():
        near.fill_(1.0)
        far.fill_(1.0)
    pull_to_start(opt, start, 5.0)
    torch.testing.assert_close(near.detach(), torch.full((3,), 0.5))
    torch.testing.assert_close(far.detach(), torch.full((3,), 0.95))


def test_l2_sp_keeps_the_fine_tuned_weights_nearer_the_start(tmp_path):
    base = {**PRESETS["tiny"], "lr": 1e-2, "freeze_bn": False, "max_steps_per_epoch": 3, "warmup_epochs": 0}
    train, val = real_samples("train", 2), real_samples("val", 1)
    start = {k: v.detach() for k, v in build_model(TrainConfig(**base))[0].named_parameters()
             if k.startswith("blocks.5.")}
    drift = {}
    for sp in (0.0, 80.0):
        result = run(TrainConfig(**base, sp_decay=sp), train, val, tmp_path / str(sp), show_bar=False)
        after = result.model.state_dict()
        drift[sp] = sum(float((after[k].cpu() - start[k]).norm()) for k in start)
    assert 0 < drift[80.0] < 0.5 * drift[0.0]
    with pytest.raises(ValueError, match="sp_decay"):
        TrainConfig(lr=1e-2, sp_decay=100.0)


def test_wise_ft_without_a_probe_head_is_refused():
    with pytest.raises(ValueError, match="head_init"):
        TrainConfig(head_init="random", wise_alpha=0.5)


def test_freezing_every_group_is_refused_with_a_clear_error():
    model = build_model(TrainConfig(**PRESETS["tiny"]))[0]
    with pytest.raises(WastesortError, match="whole model"):
        freeze_leading_groups(model, 99)


def test_cutmix_pastes_one_box_from_the_partner_and_weights_labels_by_area():
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 32, 48).clone()
    y = torch.tensor([0, 1, 2, 3])
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        mixed, partner, lam = cutmix(x, y, gen)
        for i in range(4):
            own = mixed[i, 0] == float(y[i])
            other = mixed[i, 0] == float(partner[i])
            assert (own | other).all()
            if partner[i] != y[i]:  # the box is the partner's pixels; lam is the share left untouched
                assert own.float().mean().item() == pytest.approx(lam)
        assert torch.equal(x[:, :, 0, 0], torch.arange(4, dtype=torch.float32).view(4, 1).expand(4, 3))


def test_tiny_training_run_with_cutmix_learns(tmp_path):
    cfg = TrainConfig(**{**PRESETS["tiny"], "cutmix_p": 1.0})
    start = {k: v.clone() for k, v in build_model(cfg)[0].named_parameters()}
    result = run(cfg, real_samples("train", 2), real_samples("val", 1), tmp_path, show_bar=False)
    after = dict(result.model.named_parameters())
    assert any(not torch.equal(after[k].cpu(), start[k]) for k in start)
    assert np.isfinite(result.history[-1]["train_loss"])


def test_balanced_sampler_draws_every_class_equally_from_the_real_imbalanced_split():
    train = by_split(load_samples(TRASHNET), "train")
    counts = class_counts(train)
    assert counts.min() / counts.sum() < 0.07  # trash: the split really is imbalanced
    drawn = np.concatenate([[train[i].label for i in balanced_sampler(train, seed=s)] for s in range(10)])
    share = np.bincount(drawn, minlength=len(counts)) / len(drawn)
    assert len(drawn) == 10 * len(train)
    assert np.all(np.abs(share - 1 / len(counts)) < 0.02), share
    assert list(balanced_sampler(train, seed=3)) == list(balanced_sampler(train, seed=3))
    weights = class_weights(train)
    assert np.allclose((weights * counts).sum(), counts.sum()) and weights.argmax() == counts.argmin()
