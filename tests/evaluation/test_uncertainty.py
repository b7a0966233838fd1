"""Intervals and referral on planted data: conformal coverage, the remote code's intervals against crepes', adaptive
intervals narrower where the noise says so, planted miscalibration reported, rejection curves and PRR."""

import numpy as np
import pytest
from crepes import ConformalRegressor

from modeling_sla import load_test_format
from modeling_sla.uncertainty_sla import interval, referral
from sla_phi4.evaluation.uncertainty import (
    apply_intervals,
    coverage_table,
    difficulties,
    fit_intervals,
    rejection_curve,
    select_method,
    unit_quantiles,
)
from sla_phi4.testing.planted_evidence import planted_evidence


SANDI = load_test_format("sandi2025")
BANDS = SANDI.scale.bands


@pytest.fixture(scope="module")
def calibration_split():
    return planted_evidence(2000, seed=1)


@pytest.fixture(scope="module")
def test_split():
    return planted_evidence(3000, seed=2)


def test_the_remote_code_gives_crepes_intervals():
    rng = np.random.default_rng(0)
    residuals, sigmas = np.abs(rng.normal(size=500)), rng.uniform(0.5, 2.0, 500)
    for fitted_sigmas in (None, sigmas):
        regressor = ConformalRegressor().fit(residuals=residuals, sigmas=fitted_sigmas)
        quantiles, capped = unit_quantiles(regressor, 0.9)
        quantile = quantiles[0]
        assert not capped  # 500 calibration errors are plenty for 90 %
        for score, sigma in ((3.2, 1.0), (4.1, 1.7)):
            expected = regressor.predict_int(y_hat=np.array([score]), sigmas=np.array([sigma]), confidence=0.9)[0]
            model = None if fitted_sigmas is None else {"intercept": sigma, "weights": {}, "floor": 0.0}
            low, high = interval(score, {}, {"quantile": quantile, "sigma": model}, -np.inf, np.inf)
            if fitted_sigmas is None:
                expected = regressor.predict_int(y_hat=np.array([score]), confidence=0.9)[0]
            assert (low, high) == pytest.approx(tuple(expected), abs=1e-12)
    assert interval(5.3, {}, {"quantile": 0.5, "sigma": None}, 2.0, 5.5) == (4.8, 5.5)  # clipped to the scale


@pytest.mark.parametrize("method", ["split", "normalized", "mondrian"])
def test_conformal_intervals_cover_as_stated(method, calibration_split, test_split):
    calibration = fit_intervals(calibration_split, SANDI, BANDS, method, coverage=0.9)
    lows, highs = apply_intervals(calibration, test_split, SANDI, BANDS)
    table = coverage_table(lows, highs, test_split.references, SANDI.score_names, 0.9)
    for name, values in table.items():
        assert 0.88 <= values["coverage"] <= 0.92, (method, name, values["coverage"])  # ±3.6 standard errors
    assert calibration["library"].startswith("crepes")


def test_adaptive_intervals_are_narrower_where_the_prior_is_sure(calibration_split, test_split):
    widths = {}
    for method in ("split", "normalized"):
        calibration = fit_intervals(calibration_split, SANDI, BANDS, method, coverage=0.9)
        lows, highs = apply_intervals(calibration, test_split, SANDI, BANDS)
        widths[method] = np.nanmean(highs - lows)
    assert widths["normalized"] < 0.8 * widths["split"]
    normalized = fit_intervals(calibration_split, SANDI, BANDS, "normalized", coverage=0.9)
    weights = normalized["targets"]["P1"]["sigma"]["weights"]
    assert weights["app_spread"] + weights["app_entropy"] > 0  # the planted difficulty (both measure it) is found
    chosen, measured = select_method(calibration_split, SANDI, BANDS, 0.9)
    assert chosen == "normalized" and measured["normalized"]["mean_width"] < measured["split"]["mean_width"]


def test_planted_miscalibration_is_reported(calibration_split, test_split):
    calibration = fit_intervals(calibration_split, SANDI, BANDS, "split", coverage=0.9)
    for target in calibration["targets"].values():
        target["quantile"] /= 2  # intervals half as wide as they should be
    lows, highs = apply_intervals(calibration, test_split, SANDI, BANDS)
    table = coverage_table(lows, highs, test_split.references, SANDI.score_names, 0.9)
    assert all(not values["calibrated"] and values["coverage"] < 0.8 for values in table.values())
    assert all(values["coverage_95ci"][1] < 0.9 for values in table.values())


def test_referral_refers_the_chosen_share_and_the_least_certain(calibration_split, test_split):
    calibration = fit_intervals(calibration_split, SANDI, BANDS, "split", coverage=0.9, refer_share=0.1)
    hardness = difficulties(calibration, test_split, SANDI, BANDS)
    referred = hardness > calibration["referral"]["threshold"]
    assert 0.06 <= referred.mean() <= 0.14  # the calibration's 10 %, on other sessions
    errors = np.abs(test_split.predictions[:, -1] - test_split.references[:, -1])
    assert errors[referred].mean() > 1.3 * errors[~referred].mean()
    refer, reasons = referral(3.0, [], calibration)
    assert refer and reasons[0].startswith("uncertain: 3.00 x as hard to score as the typical session")
    assert referral(0.5, [], calibration) == (False, [])
    flag = {"response_id": "r1", "part": "P3", "reason": "silent"}
    assert referral(None, [flag], None) == (True, ["response r1 (P3) cannot be assessed: silent"])
    assert referral(None, [], None) == (False, [])


def test_rejection_curves_and_prr():
    rng = np.random.default_rng(0)
    errors = rng.normal(size=2000) * rng.uniform(0.1, 1.0, 2000)
    oracle = rejection_curve(np.abs(errors), errors)
    assert oracle["prr"] == pytest.approx(1.0) and oracle["model"] == oracle["oracle"]
    blind = rejection_curve(rng.random(2000), errors)
    assert abs(blind["prr"]) < 0.1
    assert oracle["model"][0] == pytest.approx(np.sqrt(np.mean(errors ** 2)))
    assert oracle["oracle"][-1] < blind["random"][-1] and len(oracle["shares"]) == 51 and oracle["shares"][-1] == 0.5
