import argparse

from wastesort.recipe import TrainConfig
from wastesort_trainer.cli import _train_args, _train_config, main

NOT_CONFIG = {"config", "data", "limit", "out", "preset"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    _train_args(p)
    return p


def test_every_training_flag_is_a_config_field_or_a_known_non_config_option():
    """A flag whose dest is not a TrainConfig field would be parsed and then silently dropped."""
    dests = {a.dest for a in _parser()._actions if a.dest != "help"}
    assert dests - set(TrainConfig.model_fields) == NOT_CONFIG


def test_every_training_flag_reaches_the_config():
    defaults = TrainConfig()
    args = ["--epochs", "3", "--architecture", "tf_efficientnet_lite0", "--weights", "none",
            "--input-size", "160", "--batch-size", "8", "--lr", "0.001", "--lr-decay", "0.7",
            "--schedule", "exp", "--ema-decay", "0.9", "--layer-decay", "0.8", "--balance", "loss",
            "--augment", "field", "--paste-p", "0.2", "--paste-scale", "0.3", "0.9", "--freeze-groups", "1",
            "--occlude-p", "0.3",
            "--cutmix-p", "0.25", "--motion-blur-p", "0.4", "--patch-p", "0.3",
            "--head-init", "random", "--no-freeze-bn", "--sp-decay", "10", "--time-budget", "30", "--seed", "7"]
    cfg = _train_config(_parser().parse_args(args))
    dests = {a.dest for a in _parser()._actions} - NOT_CONFIG - {"help", "wise_alpha"}
    # --wise-alpha needs the probe head, so it is checked on the default (probe) recipe
    assert _train_config(_parser().parse_args(["--wise-alpha", "0.5"])).wise_alpha == 0.5
    for key in dests:
        assert getattr(cfg, key) != getattr(defaults, key), f"--{key} did not reach TrainConfig"
    assert (cfg.cutmix_p, cfg.occlude_p, cfg.motion_blur_p, cfg.augment, cfg.seed) == (0.25, 0.3, 0.4, "field", 7)


def test_flags_override_the_preset_and_unset_flags_keep_it():
    cfg = _train_config(_parser().parse_args(["--preset", "quick", "--cutmix-p", "0.5"]))
    assert cfg.cutmix_p == 0.5 and cfg.input_size == 176 and cfg.augment == "basic"


def test_a_bad_recipe_value_is_a_clear_error_not_a_traceback(capsys):
    assert main(["train", "--preset", "tiny", "--head-init", "random", "--wise-alpha", "0.5"]) == 2
    assert "invalid recipe" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--lr", "-1"]) == 2
    assert "lr: Input should be greater than 0" in capsys.readouterr().err
