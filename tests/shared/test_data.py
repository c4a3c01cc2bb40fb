import subprocess
import sys

import pytest

from tests.utils.factories import TRASHNET, class_folder, jpeg_bytes
from wastesort import CLASSES
from wastesort.data import DatasetError, by_split, load_samples, validate


def test_trashnet_split_counts_match_readme():
    samples = load_samples(TRASHNET)
    assert len(samples) == 2527
    assert (len(by_split(samples, "train")), len(by_split(samples, "val")), len(by_split(samples, "test"))) == (
        1769, 252, 506)


def test_class_folder_with_bad_files_is_reported_not_fatal(tmp_path):
    root = class_folder(tmp_path / "new", per_class=1, classes=("glass", "metal"))
    (root / "glass" / "empty.jpg").write_bytes(b"")
    (root / "glass" / "truncated.jpg").write_bytes(jpeg_bytes()[:200])
    (root / "metal" / "notes.jpg").write_text("not an image")
    (root / "banana").mkdir()
    (root / "banana" / "b.jpg").write_bytes(jpeg_bytes())
    samples = load_samples(root)
    kept, report = validate(samples, root)
    assert {CLASSES[s.label] for s in kept} == {"glass", "metal"}
    assert len(kept) == 2
    assert report.as_dict()["skipped"] == 3
    assert any("empty" in p for p in report.problems)
    assert any("truncated.jpg" in p for p in report.problems)


def test_missing_or_empty_folder_raises_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_samples(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no labelled images"):
        load_samples(tmp_path)


def test_cli_bad_data_folder_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "wastesort_trainer.cli", "train", "--preset", "tiny", "--data",
                           str(tmp_path / "missing"), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error: data folder not found" in proc.stderr
    assert "Traceback" not in proc.stderr
