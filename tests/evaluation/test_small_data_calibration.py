"""Calibration on small data: the split's own counts are checked before anything is scored, crepes' warnings become
one line of ours, a degenerate difficulty fit is regularised (or the plain interval used) and says which, and the
linear recalibration of `sla score --calibrate_on` refuses what few sessions cannot support."""

import warnings

import numpy as np
import pytest

from modeling_sla import load_test_format
from sla_phi4.evaluation import interval_calibration
from sla_phi4.evaluation.interval_calibration import calibration_notes, check_marked_sessions
from sla_phi4.evaluation.recalibration import (
    RULES,
    apply_recalibration,
    describe_recalibration,
    fit_recalibration,
)
from sla_phi4.evaluation.uncertainty import FEATURES, fit_intervals, fit_sigma, is_degenerate
from sla_phi4.testing.planted_evidence import planted_evidence


SANDI = load_test_format("sandi2025")
NAMES = SANDI.score_names


def rows(count: int, marked: int | None = None) -> list[dict]:
    marked = count if marked is None else marked
    return [{"session_id": f"S{index}", **{name: 3.5 if index < marked else None for name in NAMES}}
            for index in range(count)]


def test_the_message_gives_the_splits_own_counts():
    with pytest.raises(ValueError) as error:
        check_marked_sessions(rows(2), NAMES, "dev", "auto")
    message = str(error.value)
    assert "split 'dev' has 2 sessions" in message and "overall 2" in message
    assert "--method auto needs at least 20" in message and "a fixed --method needs 10" in message
    check_marked_sessions(rows(12), NAMES, "dev", "split")  # 10 suffice for one method
    with pytest.raises(ValueError, match="P1 8"):
        check_marked_sessions(rows(12, marked=8), NAMES, "dev", "split")


def test_the_count_is_checked_before_any_session_is_scored(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    import shutil

    shutil.copytree(tiny_checkpoint, folder, ignore=shutil.ignore_patterns("parts"))
    monkeypatch.setattr(interval_calibration, "load_split", lambda *args, **kwargs: (rows(2), None))

    def scored(*args, **kwargs):
        raise AssertionError("sessions were scored before the count was checked")

    monkeypatch.setattr(interval_calibration, "gather_evidence", scored)
    with pytest.raises(ValueError, match="split 'dev' has 2 sessions"):
        interval_calibration.calibrate_intervals(str(folder), "corpus", "dev")


def test_crepes_warnings_become_one_line_of_ours():
    evidence = planted_evidence(12, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes fails the test
        calibration = fit_intervals(evidence, SANDI, SANDI.scale.bands, "split", coverage=0.95)
    assert all(target["quantile_capped"] for target in calibration["targets"].values())
    notes = calibration_notes(calibration, "dev")
    assert len([note for note in notes if "conformal quantile" in note]) == 1
    assert notes[0].startswith("P1, P3, P4, P5, overall: dev has too few sessions for a 95% conformal quantile")
    plenty = fit_intervals(planted_evidence(400, seed=3), SANDI, SANDI.scale.bands, "split", coverage=0.9)
    assert not any(target["quantile_capped"] for target in plenty["targets"].values())


def degenerate_case(sessions: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """`app_entropy` nearly constant (as on a dozen sessions of one band) and the errors following its last digits:
    least squares answers with a huge weight and an intercept that cancels it (seen: -26081 and 12542)."""
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (sessions, len(FEATURES)))
    entropy = FEATURES.index("app_entropy")
    features[:, entropy] = 2.08 + rng.uniform(0, 1e-4, sessions)
    residuals = np.abs(rng.normal(0, 0.5, sessions)) + (features[:, entropy] - 2.08) * 5e3
    return features, residuals


def test_a_degenerate_difficulty_fit_is_regularised_and_says_so():
    features, residuals = degenerate_case()
    model = fit_sigma(features, residuals)
    assert model is not None and model["fit"] == "ridge"
    assert not is_degenerate(model, features, residuals) and abs(model["intercept"]) < 10
    rng = np.random.default_rng(1)
    sane = rng.uniform(0, 1, (200, len(FEATURES)))
    assert fit_sigma(sane, np.abs(rng.normal(0, 0.3, 200)) + 0.5 * sane[:, 0])["fit"] == "least squares"


def test_when_every_fit_is_degenerate_the_interval_is_plain(monkeypatch):
    from sla_phi4.evaluation import uncertainty

    monkeypatch.setattr(uncertainty, "is_degenerate", lambda *args: True)
    features, residuals = degenerate_case()
    assert uncertainty.fit_sigma(features, residuals) is None
    calibration = fit_intervals(planted_evidence(40, seed=4), SANDI, SANDI.scale.bands, "normalized", 0.9)
    for target in calibration["targets"].values():
        assert target["sigma"] is None and target["difficulty_fit"] == "plain (degenerate fits)"
    assert "overall uses plain (degenerate fits)" in calibration_notes(calibration, "dev")[-1]


# ------------------------------------------------------------------------------------ linear recalibration
def planted(sessions: int, slope: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    predictions = rng.uniform(2.5, 5.0, (sessions, len(NAMES)))
    references = slope * (predictions - 3.75) + 3.75 + rng.normal(0, 0.05, predictions.shape)
    return predictions, references


def test_recalibration_needs_the_stated_minimum_of_sessions():
    assert RULES.min_sessions == 10
    predictions, references = planted(2)
    calibration = fit_recalibration(predictions, references, NAMES)
    assert all("refused" in entry and entry["sessions"] == 2 for entry in calibration.values())
    assert np.array_equal(apply_recalibration(predictions, calibration, NAMES), predictions)
    assert "fitted none; left raw: P1 (2 sessions with a score and a mark, fewer than 10)" in \
        describe_recalibration(calibration, "dev")


def test_recalibration_fits_a_sane_slope_and_refuses_a_wild_one():
    predictions, references = planted(40, slope=1.3)
    calibration = fit_recalibration(predictions, references, NAMES)
    assert all(entry["slope"] == pytest.approx(1.3, abs=0.05) and entry["sessions"] == 40
               for entry in calibration.values())
    recalibrated = apply_recalibration(predictions, calibration, NAMES)
    assert np.abs(recalibrated - references).mean() < np.abs(predictions - references).mean()
    wild = fit_recalibration(*planted(40, slope=1218.0), NAMES)
    assert all(entry["refused"].startswith("slope 1.22e+03 outside [0.2, 5.0]") for entry in wild.values())
    flat = fit_recalibration(np.full((12, len(NAMES)), 3.5), planted(12)[1], NAMES)
    assert all(entry["refused"] == "its predictions do not vary" for entry in flat.values())
    line = describe_recalibration({**calibration, "P5": wild["P5"]}, "dev")
    assert line.startswith("linear recalibration on dev: fitted P1 (slope 1.3") and "40 sessions)" in line
    assert "left raw: P5 (slope 1.22e+03" in line
