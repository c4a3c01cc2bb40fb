"""Cut-outs, pasting, shifts and the robustness report, on real TrashNet photos and real backgrounds."""

import json
import random

import cv2
import numpy as np
import pytest

from tests.utils.factories import TRASHNET, real_samples
from wastesort import CLASSES
from wastesort.preprocess import load_image_file
from wastesort.settings import SHARED_MATERIAL
from wastesort_trainer.backgrounds import (
    PROCEDURAL,
    list_background_files,
    load_pool,
    procedural,
    split_background_files,
)
from wastesort_trainer.cli import main
from wastesort_trainer.composite import PasteParams, occlude, paste
from wastesort_trainer.robustness import (
    SetResult,
    calibrate_uncertainty,
    confidence_signals,
    error_aurocs,
    top_confusions,
)
from wastesort_trainer.segment import MaskCache, hull_fill, object_mask
from wastesort_trainer.shifts import SHIFTS, apply_shift

BACKGROUNDS = SHARED_MATERIAL / "backgrounds"


def _board_with_disc(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic TrashNet-like photo: lit white board, a shadow, and a red disc whose mask we know."""
    h, w = 288, 384
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    board = 235 - 25 * ((xx / w - 0.3) ** 2 + (yy / h - 0.4) ** 2)  # uneven light
    img = np.repeat(board[..., None], 3, axis=2)
    truth = ((xx - 200) ** 2 + (yy - 150) ** 2 < 70**2)
    shadow = cv2.GaussianBlur(((xx - 215) ** 2 + (yy - 165) ** 2 < 75**2).astype(np.float32), (15, 15), 0)
    img *= (1 - 0.15 * shadow)[..., None]
    img[truth] = (200, 40, 30)
    img += np.random.default_rng(seed).normal(0, 2, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), truth


def test_mask_recovers_a_known_object_and_no_board_far_from_it():
    img, truth = _board_with_disc()
    mask = object_mask(img) > 127
    assert (mask & truth).sum() / truth.sum() > 0.99
    assert (mask & truth).sum() / (mask | truth).sum() > 0.7
    # the mask is computed at 160 px, so its edge may run a few pixels wide into the shadow, never further
    distance = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    assert distance[mask].max() < 30


def test_mask_on_real_photos():
    lid = load_image_file(TRASHNET / "metal" / "metal17.jpg")  # a jar lid on the board, corners are board
    m = object_mask(lid)
    h, w = m.shape
    assert m.shape == lid.shape[:2]
    assert m[int(0.41 * h), int(0.43 * w)] == 255
    assert max(m[5, w - 5], m[h - 5, w - 5], m[5, 5]) == 0
    assert 0.15 < (m > 127).mean() < 0.5
    box = load_image_file(TRASHNET / "cardboard" / "cardboard3.jpg")  # a box filling the frame: kept whole
    assert (object_mask(box) > 127).mean() > 0.97


def test_hull_fill_closes_an_outline_and_leaves_solid_masks_alone():
    outline = np.zeros((100, 160), np.uint8)
    outline[20:28, 30:130] = 1  # the two long edges of a white envelope, its pale middle lost
    outline[72:80, 30:130] = 1
    filled = hull_fill(outline)
    assert filled[50, 80] == 1 and filled[5, 5] == 0
    assert 0.9 < filled.sum() / (60 * 100) < 1.1
    disc = cv2.circle(np.zeros((100, 160), np.uint8), (80, 50), 30, 1, -1)
    assert np.array_equal(hull_fill(disc), disc)


def test_white_envelope_on_the_white_board_is_cut_whole():
    """paper377: a white envelope whose middle the board model takes for board; only its edges score."""
    envelope = load_image_file(TRASHNET / "paper" / "paper377.jpg")
    m = object_mask(envelope)
    h, w = m.shape
    assert m[h // 2, int(0.45 * w)] == 255  # the middle of the envelope
    assert max(m[5, 5], m[5, w - 5], m[h - 5, 5], m[h - 5, w - 5]) == 0  # board corners
    assert 0.2 < (m > 127).mean() < 0.45


def test_mask_cache_writes_once_and_reads_back(tmp_path):
    path = TRASHNET / "glass" / "glass17.jpg"
    first = MaskCache(tmp_path).get(path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    again = MaskCache(tmp_path).get(path)
    assert np.array_equal(first, again)


def test_paste_puts_the_object_on_the_new_background_at_the_right_size():
    img, truth = _board_with_disc()
    mask = truth.astype(np.uint8) * 255
    background = np.zeros((200, 300, 3), np.uint8)
    background[:] = (0, 0, 255)
    out = paste(img, mask, background, np.random.default_rng(3),
                PasteParams(scale=(0.5, 0.5), max_rotation=0, shadow_p=0, feather=0))
    assert out.shape == background.shape
    red = (out[..., 0] > 150) & (out[..., 2] < 100)
    # the disc's bounding box is scaled to half the canvas's short side: a disc of diameter 100 px
    ys, xs = np.nonzero(red)
    assert abs((xs.max() - xs.min() + 1) - 100) <= 3 and abs((ys.max() - ys.min() + 1) - 100) <= 3
    assert abs(red.sum() - np.pi * 50**2) < 0.05 * np.pi * 50**2
    assert not (out > 150).all(-1).any()  # none of the white board came along


def test_occluders_land_on_top_smaller_than_the_photo_and_keep_its_size():
    disc, truth = _board_with_disc()
    photo = np.full((300, 400, 3), (0, 0, 255), np.uint8)
    out = occlude(photo, [(disc, truth.astype(np.uint8) * 255)], np.random.default_rng(1),
                  PasteParams(scale=(0.3, 0.3), max_rotation=0, shadow_p=0, feather=0))
    assert out.shape == photo.shape
    red = (out[..., 0] > 150) & (out[..., 2] < 100)
    ys, xs = np.nonzero(red)  # the disc's box is 0.3 of the short side: 90 px across, on top of the photo
    assert abs((xs.max() - xs.min() + 1) - 90) <= 3 and abs((ys.max() - ys.min() + 1) - 90) <= 3
    near = cv2.dilate(red.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # resized edges blend
    assert ((out == photo).all(-1) | near).all()  # everything else is the photo, untouched
    assert np.array_equal(occlude(photo, [], np.random.default_rng(1)), photo)


def test_training_occluders_come_from_other_training_photos(tmp_path, monkeypatch):
    from wastesort.settings import get_settings
    from wastesort_trainer.train import background_replacement

    monkeypatch.setenv("WASTESORT_DATA__CACHE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        train = real_samples("train", 1)
        alter = background_replacement(train, 0.0, occlude_p=1.0)
        img = load_image_file(train[0].path)
        random.seed(0)  # the alter draws its generator from python's random (reseeded per loader worker)
        outs = [alter(img, 0) for _ in range(4)]
    finally:
        get_settings.cache_clear()
    changed = [(np.abs(out.astype(int) - img).max(-1) > 30).mean() for out in outs]
    assert all(out.shape == img.shape for out in outs)
    # part of the photo is covered, never all of it (a white occluder on the white board barely shows)
    assert max(changed) > 0.01 and max(changed) < 0.6
    assert not np.array_equal(outs[0], outs[1])


def test_background_split_keeps_sources_apart():
    files = list_background_files(BACKGROUNDS)
    parts = split_background_files(files)
    train_groups = {f.group for f in parts["train"]}
    test_groups = {f.group for f in parts["test"]}
    assert train_groups and test_groups and not train_groups & test_groups
    assert len(parts["train"]) + len(parts["test"]) == len(files) == 177
    assert {f.surface for f in parts["test"]} == {f.surface for f in files}  # every surface in both parts
    assert 0.2 < len(test_groups) / (len(train_groups) + len(test_groups)) < 0.45
    again = split_background_files(list(reversed(files)))  # deterministic, whatever the listing order
    assert {k: {f.path for f in v} for k, v in parts.items()} == {k: {f.path for f in v} for k, v in again.items()}
    assert not set(PROCEDURAL["train"]) & set(PROCEDURAL["test"])


def test_pools_sample_any_size_and_procedural_surfaces_are_seeded():
    pool = load_pool(BACKGROUNDS, "test", max_side=256)
    img = pool.sample(np.random.default_rng(0), 120, 160)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    for kind in sum(PROCEDURAL.values(), ()):
        a = procedural(kind, np.random.default_rng(5), 64, 80)
        assert a.shape == (64, 80, 3) and a.std() > 3
        assert np.array_equal(a, procedural(kind, np.random.default_rng(5), 64, 80))


@pytest.mark.parametrize("name", list(SHIFTS))
def test_shifts_are_deterministic_and_grow_with_severity(name):
    img = load_image_file(TRASHNET / "plastic" / "plastic17.jpg")
    a = apply_shift(name, img, 3, seed=11)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, apply_shift(name, img, 3, seed=11))
    diffs = [np.abs(apply_shift(name, img, s, seed=11).astype(int) - img).mean() for s in (1, 5)]
    assert diffs[1] > diffs[0] > 0


def test_error_auroc_and_calibration_on_known_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 200)
    probs = np.full((200, 6), 0.02)
    wrong = np.arange(200) < 40
    pred = np.where(wrong, (y + 1) % 6, y)
    probs[np.arange(200), pred] = np.where(wrong, 0.4, 0.9)  # wrong answers are the unsure ones
    logits = np.log(probs / probs.sum(1, keepdims=True))
    assert error_aurocs(logits, y)["max_prob"] == 1.0
    chosen = calibrate_uncertainty([SetResult("background", None, logits, y)])
    assert chosen["signal"] in ("max_prob", "margin", "lognorm")
    sure = confidence_signals(logits)[chosen["signal"]]
    assert sure[wrong].max() < chosen["threshold"] <= sure[~wrong].min()
    assert chosen["errors_flagged"] == 1.0 and chosen["correct_flagged"] == 0.0


def test_top_confusions_name_where_the_errors_go():
    cm = np.diag([5, 5, 5, 5, 5, 5])
    cm[1, 4], cm[5, 3], cm[0, 2] = 7, 2, 2  # glass->plastic most, then two ties in row order
    assert top_confusions(cm.tolist()) == ["glass->plastic 7", "cardboard->metal 2", "trash->paper 2"]
    assert top_confusions(np.eye(6, dtype=int).tolist()) == []


def test_robustness_report_on_a_tiny_model(artifact, tmp_path, capsys):
    report = tmp_path / "rob.json"
    assert main(["robustness", str(artifact), "--limit", "12", "--severities", "3", "--shifts", "jpeg",
                 "occlusion", "--workers", "1", "--report", str(report)]) == 0
    data = json.loads(report.read_text())
    rows = data["models"][str(artifact)]["rows"]
    assert [(r["set"], r["severity"]) for r in rows] == [("clean", None), ("background", None), ("jpeg", 3),
                                                         ("occlusion", 3)]
    for r in rows:
        assert r["n"] == 12 and 0 <= r["accuracy"] <= 1 and set(r["recall"]) == set(CLASSES)
        assert set(r["error_auroc"]) == {"max_prob", "margin", "neg_entropy", "lognorm"}
        cm = np.array(r["confusion_matrix"])
        assert cm.shape == (6, 6) and cm.sum() == 12 and np.trace(cm) == round(r["accuracy"] * 12)
    sheet = cv2.imread(str(tmp_path / "rob" / "examples.png"))
    assert sheet.shape[0] == 4 * 144  # one row per set: clean, background, jpeg, occlusion
    assert (tmp_path / "rob" / "masks.png").is_file()
    assert "| background |" in capsys.readouterr().out


def test_training_with_background_replacement_calibrates_the_uncertain_flag(tmp_path):
    from wastesort.recipe import PRESETS, TrainConfig
    from wastesort_trainer.train import run

    cfg = TrainConfig(**{**PRESETS["tiny"], "paste_p": 1.0, "calibrate": True})
    result = run(cfg, real_samples("train", 2), real_samples("val", 1), tmp_path, show_bar=False)
    u = result.card.metrics["uncertainty"]
    assert u["signal"] in ("max_prob", "margin", "lognorm") and 0 <= u["threshold"] <= 1
    assert u["n"] == 6 * 9  # val photos x (background + 8 capture shifts at medium severity)
    saved = json.loads((tmp_path / "best" / "config.json").read_text())
    assert saved["metrics"]["uncertainty"] == u
