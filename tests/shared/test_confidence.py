import numpy as np
import pytest

from wastesort.confidence import confidence_signals, is_uncertain


def test_confidence_signals_on_known_logits():
    logits = np.array([[4.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    s = confidence_signals(logits)
    p0 = np.exp(4) / (np.exp(4) + 2)
    assert s["max_prob"][0] == pytest.approx(p0) and s["margin"][1] == pytest.approx(0.0)
    # lognorm: softmax of the L2-normalised logits; [4, 0, 0] normalises to [1, 0, 0]
    assert s["lognorm"][0] == pytest.approx(np.exp(1) / (np.exp(1) + 2))
    assert (s["max_prob"][0] > s["max_prob"][1]) and (s["lognorm"][0] > s["lognorm"][1])


def test_uncertain_rule_follows_the_calibration_unless_manual():
    signals = {"max_prob": 0.9, "margin": 0.85, "lognorm": 0.3, "neg_entropy": -0.1}
    calibration = {"signal": "lognorm", "threshold": 0.4}
    assert is_uncertain(signals, calibration=calibration, rule="model", threshold=0.6, margin=0.2)
    assert not is_uncertain(signals, calibration=calibration, rule="manual", threshold=0.6, margin=0.2)
    assert is_uncertain(signals, calibration=None, rule="model", threshold=0.95, margin=0.2)  # no calibration
    assert not is_uncertain(signals, calibration={"signal": "neg_entropy", "threshold": 0}, rule="model",
                            threshold=0.6, margin=0.2)  # a signal never chosen falls back to manual


def test_review_score_follows_the_models_calibrated_signal():
    from wastesort.confidence import review_score

    signals = {"max_prob": 0.9, "margin": 0.5, "lognorm": 0.3, "neg_entropy": -0.2}
    assert review_score(signals, {"signal": "lognorm", "threshold": 0.4}) == 0.3
    assert review_score(signals, None) == 0.9
    assert review_score(signals, {"signal": "neg_entropy"}) == 0.9  # not a flag signal: max-probability
