"""Tests of the S&I 2025 SLA scoring metric in hub_card/sla_scoring, against hand-computed values."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
METRIC_DIR = REPO / "hub_card" / "sla_scoring"


@pytest.fixture(scope="module", autouse=True)
def offline_hf_home(tmp_path_factory):
    """Offline, with a private HF_HOME; evaluate reads its cache paths at import, so patch them too."""
    import evaluate.config

    home = tmp_path_factory.mktemp("hf_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_EVALUATE_OFFLINE", "1")
        mp.setenv("HF_HOME", str(home))
        mp.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
        mp.setattr(evaluate.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
        mp.setattr(evaluate.config, "HF_METRICS_CACHE", home / "metrics")
        mp.setattr(evaluate.config, "HF_EVALUATE_CACHE", home / "evaluate")
        # Dynamic modules are imported as the package `evaluate_modules`; once it is imported from one
        # cache folder (by an earlier test module) it cannot move, so only redirect it when still unused.
        if "evaluate_modules" not in sys.modules:
            mp.setattr(evaluate.config, "HF_MODULES_CACHE", home / "modules")
        yield home


@pytest.fixture(scope="module")
def sla():
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def _close(results, expected):
    assert set(results) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(results[key]), key
        else:
            assert results[key] == pytest.approx(value, abs=1e-12), key


# A small example worked out by hand:
#   refs  2.0  3.0  4.0  5.0      (mean 3.5,   deviations -1.5  -0.5  0.5  1.5,      Sxx = 5)
#   preds 2.5  3.0  5.0  4.0      (mean 3.625, deviations -1.125 -0.625 1.375 0.375, Syy = 3.6875)
#   |diff| 0.5  0.0  1.0  1.0     squared 0.25 0 1 1 -> MSE 2.25 / 4 = 0.5625 -> RMSE 0.75
#   Sxy = 1.6875 + 0.3125 + 0.6875 + 0.5625 = 3.25 -> PCC = 3.25 / sqrt(5 * 3.6875)
#   ranks of preds 1 2 4 3 against 1 2 3 4: sum d^2 = 2 -> SRC = 1 - 6 * 2 / (4 * 15) = 0.8
#   6 pairs, only (4.0, 5.0) discordant: KRC = (5 - 1) / 6 = 2/3
#   within 0.5 (strict): only the 0.0 difference -> 25 %; within 1.0: 0.5 and 0.0 -> 50 %
EXAMPLE_PREDS = [2.5, 3.0, 5.0, 4.0]
EXAMPLE_REFS = [2.0, 3.0, 4.0, 5.0]
EXAMPLE_EXPECTED = {
    "rmse": 0.75,
    "pcc": 3.25 / math.sqrt(18.4375),  # 0.75688926...
    "src": 0.8,
    "krc": 2 / 3,
    "within_0.5": 25.0,
    "within_1.0": 50.0,
    "count": 4,
}


def test_hand_computed_example(sla):
    results = sla.compute(predictions=EXAMPLE_PREDS, references=EXAMPLE_REFS)
    _close(results, EXAMPLE_EXPECTED)
    assert results["pcc"] == pytest.approx(0.7568892626614565, abs=1e-12)
    assert isinstance(results["count"], int)


def test_exact_half_and_one_differences_are_not_within(sla):
    # pred - ref exactly 0.5 / 1.0 (and -0.5 / -1.0), quarter and eighth marks as in the kit
    results = sla.compute(
        predictions=[4.5, 3.5, 5.0, 3.0, 4.125, 4.375, 4.49, 3.99],
        references=[4.0, 4.0, 4.0, 4.0, 3.625, 3.375, 4.0, 3.0],
    )
    # |diff| = 0.5 0.5 1.0 1.0 0.5 1.0 0.49 0.99
    assert results["within_0.5"] == 100.0 * 1 / 8
    assert results["within_1.0"] == 100.0 * 5 / 8
    assert results["count"] == 8


def test_kendall_is_tau_b(sla):
    # refs 3 3 4 5, preds 3 4 4 5: C = 4, D = 0, one tie in each -> tau-b = 4 / sqrt(5 * 5) = 0.8
    # (tau-a would be 4 / 6); ranks with ties: refs 1.5 1.5 3 4, preds 1 2.5 2.5 4
    #   deviations from 2.5: -1 -1 0.5 1.5 and -1.5 0 0 1.5 -> Sxy 3.75, Sxx = Syy = 4.5 -> SRC = 5/6
    results = sla.compute(predictions=[3.0, 4.0, 4.0, 5.0], references=[3.0, 3.0, 4.0, 5.0])
    assert results["krc"] == pytest.approx(0.8, abs=1e-12)
    assert results["src"] == pytest.approx(5 / 6, abs=1e-12)
    assert results["rmse"] == pytest.approx(0.5, abs=1e-12)  # one difference of 1.0 over 4 -> sqrt(0.25)
    assert results["within_0.5"] == 75.0 and results["within_1.0"] == 75.0


def test_none_and_nan_references_are_left_out(sla):
    preds = EXAMPLE_PREDS[:2] + [9.0, None] + EXAMPLE_PREDS[2:] + [float("nan")]
    refs = EXAMPLE_REFS[:2] + [None, float("nan")] + EXAMPLE_REFS[2:] + [None]
    results = sla.compute(predictions=preds, references=refs)
    _close(results, EXAMPLE_EXPECTED)
    assert results["count"] == 4


def test_add_batch_path(sla):
    for pred, ref in zip(EXAMPLE_PREDS + [1.0], EXAMPLE_REFS + [None]):
        sla.add(prediction=pred, reference=ref)
    _close(sla.compute(), EXAMPLE_EXPECTED)


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf")])
def test_missing_prediction_raises_with_index(sla, bad):
    with pytest.raises(ValueError, match=r"prediction at index 2\b"):
        sla.compute(predictions=[3.0, 4.0, bad, 5.0], references=[3.0, 4.0, 4.5, None])


def test_no_pairs_raises(sla):
    with pytest.raises(ValueError, match="no"):
        sla.compute(predictions=[3.0, None], references=[None, float("nan")])


def test_degenerate_correlations_are_nan(sla):
    results = sla.compute(predictions=[3.0], references=[3.5])
    assert results["rmse"] == 0.5 and results["count"] == 1
    assert results["within_0.5"] == 0.0 and results["within_1.0"] == 100.0
    assert all(math.isnan(results[key]) for key in ("pcc", "src", "krc"))
    results = sla.compute(predictions=[3.0, 3.0, 3.0], references=[2.0, 3.0, 4.0])
    assert all(math.isnan(results[key]) for key in ("pcc", "src", "krc"))


def test_load_by_relative_path_from_repo_root(monkeypatch):
    import evaluate

    monkeypatch.chdir(REPO)
    metric = evaluate.load("hub_card/sla_scoring")
    assert metric.name == "sla_scoring"
    _close(metric.compute(predictions=EXAMPLE_PREDS, references=EXAMPLE_REFS), EXAMPLE_EXPECTED)


def test_features_and_card():
    import evaluate

    metric = evaluate.load(str(METRIC_DIR))
    features = metric.info.features
    assert features["predictions"].dtype == "float64" and features["references"].dtype == "float64"
    assert "Improve Challenge 2025: Tasks and Baseline Systems" in metric.info.citation
    assert "evaluate.load" in metric.info.inputs_description
    card = (METRIC_DIR / "README.md").read_text()
    assert card.startswith("---\n") and "app_file: app.py" in card and "- metric" in card
    source = (METRIC_DIR / "sla_scoring.py").read_text()
    for line in source.splitlines():  # evaluate's dependency check mis-parses `import a, b`
        assert not (line.startswith("import ") and "," in line), line
