"""Repeated calibration splits: coverage averaged over splits is the stated one, its spread is reported, and planted
heteroscedastic noise shows in the adaptive method's width and in the PRR."""

import numpy as np

from modeling_sla import load_test_format
from sla_phi4.experiments.uncertainty_resplits import format_markdown, plot, pooled, resplit_study
from sla_phi4.testing.planted_evidence import planted_evidence


SANDI = load_test_format("sandi2025")
BANDS = SANDI.scale.bands


def test_pooled_evidence_keeps_every_session_in_order():
    first, second = planted_evidence(5, seed=1), planted_evidence(7, seed=2)
    both = pooled(first, second)
    assert both.session_ids == first.session_ids + second.session_ids
    np.testing.assert_array_equal(both.predictions[5:], second.predictions)
    np.testing.assert_array_equal(both.app_probs[:5], first.app_probs)


def test_resplits_measure_coverage_width_and_referral_over_calibration_splits(tmp_path):
    study = resplit_study(planted_evidence(300, seed=1), planted_evidence(500, seed=2), SANDI, BANDS, 0.9, 0.1,
                          splits=20)
    assert (study["splits"], study["calibration_sessions"], study["judged_sessions"]) == (20, 300, 500)
    for method, values in study["methods"].items():
        for name in SANDI.score_names:
            stat = values["coverage"][name]
            assert 0.87 <= stat["mean"] <= 0.93 and stat["p05"] <= stat["mean"] <= stat["p95"], (method, name)
            assert stat["sd"] > 0  # the splits differ
        assert 0.0 <= values["within_87_93"] <= 1.0
    methods = study["methods"]
    # The planted noise is 5 times larger where the APP is unsure: the adaptive intervals are narrower, and the
    # sessions they call least certain are those with the larger errors.
    assert methods["normalized"]["mean_width"]["mean"] < 0.8 * methods["split"]["mean_width"]["mean"]
    assert methods["normalized"]["prr"]["mean"] > 0.3
    assert methods["normalized"]["rmse_reduction_at_refer"]["mean"] > 0.05
    markdown = format_markdown(study)
    assert "Over 20 random splits of the 800 held-out sessions (300 to calibrate, 500 to judge)" in markdown
    assert markdown.count("\n| normalized |") == 1
    plot(study, 0.9, str(tmp_path / "resplits.png"))
    assert (tmp_path / "resplits.png").stat().st_size > 10_000
