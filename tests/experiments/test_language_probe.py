"""The language probe's cross-validation: a ridge finds a planted signal, the mean row is the folds' mean, the seeds
are fold assignments, and the middle layer is the one fixed in advance."""

import numpy as np
import pytest

from sla_phi4.experiments.studies.language_probe import cross_validated, fold_predictions, middle
from sla_phi4.experiments.studies.report import TARGETS


def planted(sessions: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=sessions)
    marks = 3.5 + 0.6 * latent[:, None] + 0.1 * rng.normal(size=(sessions, len(TARGETS)))
    marks[rng.random(marks.shape) < 0.2] = np.nan  # gaps, as in the kit
    informative = np.column_stack([latent + 0.05 * rng.normal(size=sessions), rng.normal(size=(sessions, 7))])
    return marks, informative, rng.normal(size=(sessions, 8))


def test_a_ridge_on_informative_features_beats_the_mean_and_noise_does_not():
    marks, informative, noise = planted()
    mean, signal, nothing = (cross_validated(features, marks, [0, 1, 2]) for features in (None, informative, noise))
    for target in TARGETS:
        assert signal[target]["rmse"]["mean"] < 0.5 * mean[target]["rmse"]["mean"]
        assert signal[target]["pcc"]["mean"] > 0.9
        assert nothing[target]["rmse"]["mean"] > 0.9 * mean[target]["rmse"]["mean"]
        assert len(signal[target]["rmse"]["values"]) == 3


def test_out_of_fold_mean_and_seeds():
    marks, informative, _ = planted(40)
    constant = fold_predictions(None, marks, seed=0)
    assert np.isfinite(constant).all()
    # every prediction is the mean of the other folds' marks: never the session's own
    alone = np.nanmean(marks, axis=0)
    assert not np.allclose(constant, alone)
    assert not np.array_equal(fold_predictions(informative, marks, 0), fold_predictions(informative, marks, 1))
    np.testing.assert_array_equal(fold_predictions(informative, marks, 2), fold_predictions(informative, marks, 2))


def test_middle_layer():
    states = np.arange(5 * 31 * 2).reshape(5, 31, 2)
    np.testing.assert_array_equal(middle(states), states[:, 15])
    assert middle(np.zeros((3, 5, 4))).shape == (3, 4)


def test_an_unknown_language_model_fails_before_any_work(tmp_path):
    from sla_phi4.cli.ablation import main

    with pytest.raises(ValueError, match="is neither .* nor a model folder"):
        main(["--study", "language-probe", "--quick", "--workdir", str(tmp_path), "--language_model",
              str(tmp_path / "nothing")])
    assert not any(tmp_path.iterdir())  # no corpus, no backbone
