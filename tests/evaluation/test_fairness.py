"""Fairness on planted data: a bias planted in one group's predictions is found, by its mean signed error and by OSD;
bands; the groups file's errors name the file and the line; columns that are no groups are skipped and named."""

import numpy as np
import pytest

from modeling_sla import load_test_format
from sla_phi4.evaluation.fairness import fairness_section, format_fairness, loukina_measures, read_groups


SANDI = load_test_format("sandi2025")


def planted(tmp_path, bias: float = 0.3, sessions: int = 600, seed: int = 0):
    """Marks, predictions with noise and `bias` added for L1 'es' only, and a groups file."""
    rng = np.random.default_rng(seed)
    ids = [f"SYN-{index:05d}" for index in range(sessions)]
    l1 = rng.choice(["es", "fr", "de"], sessions)
    gender = rng.choice(["f", "m"], sessions)
    references = np.round(rng.uniform(2.0, 5.5, sessions) * 8) / 8
    predictions = references + rng.normal(0, 0.3, sessions) + bias * (l1 == "es")
    path = tmp_path / "groups.tsv"
    rows = ["submission_id\tl1\tgender\tscore_seed"] + [f"{i}\t{a}\t{g}\t{k}" for k, (i, a, g) in
                                                      enumerate(zip(ids, l1, gender))]
    path.write_text("\n".join(rows) + "\n")
    return ids, predictions, references, str(path)


def test_a_planted_bias_is_found(tmp_path):
    ids, predictions, references, groups = planted(tmp_path)
    section = fairness_section(ids, predictions, references, SANDI, "overall", groups)
    l1 = section["columns"]["l1"]
    es = l1["groups"]["es"]
    assert es["mean_signed_error"] == pytest.approx(0.3, abs=0.06)
    assert es["mean_signed_error_95ci"][0] > 0.15  # clearly above 0
    for other in ("fr", "de"):
        low, high = l1["groups"][other]["mean_signed_error_95ci"]
        assert low < 0 < high, other
    assert l1["osd"]["p_value"] < 1e-6 and l1["osd"]["r2"] > 0.1  # the signed error depends on the group
    assert l1["csd"]["p_value"] < 1e-6  # also given the mark
    assert section["columns"]["gender"]["osd"]["p_value"] > 0.01  # no bias planted by gender
    assert set(section["skipped_columns"]) == {"score_seed"}  # 600 distinct values: no group
    assert section["sessions_without_groups"] == 0
    assert "l1: OSA" in format_fairness({"fairness": section})


def test_no_bias_planted_no_bias_found(tmp_path):
    ids, predictions, references, groups = planted(tmp_path, bias=0.0)
    section = fairness_section(ids, predictions, references, SANDI, "overall", groups, ["l1"])
    assert list(section["columns"]) == ["l1"]
    for values in section["columns"]["l1"]["groups"].values():
        low, high = values["mean_signed_error_95ci"]
        assert low < 0 < high


def test_by_band_and_measures():
    references = np.array([2.0, 2.0, 3.0, 3.1, 5.5, 5.4])
    predictions = references + np.array([0.5, 0.5, 0.0, 0.0, -0.5, -0.5])
    section = fairness_section([str(i) for i in range(6)], predictions, references, SANDI, "overall")
    assert section["by_band"]["A2"] == {"n": 2, "rmse": 0.5, "mean_signed_error": 0.5,
                                        "mean_signed_error_95ci": [0.5, 0.5]}
    assert section["by_band"]["C1+"]["mean_signed_error"] == -0.5 and "columns" not in section
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    measures = loukina_measures(groups, predictions, references)
    assert measures["osd"]["r2"] == pytest.approx(1.0) and measures["osa"]["r2"] == pytest.approx(1.0)


def test_groups_file_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("id\tl1\nA\tes\nB\tfr\tx\n")
    with pytest.raises(ValueError, match=r"g.tsv, line 3: 3 columns; the header has 2"):
        read_groups(str(path))
    path.write_text("id\tl1\nA\tes\nA\tfr\n")
    with pytest.raises(ValueError, match=r"g.tsv, line 3: submission ID 'A' again \(first on line 2\)"):
        read_groups(str(path))
    path.write_text("id\n")
    with pytest.raises(ValueError, match=r"line 1 must be a header"):
        read_groups(str(path))
    path.write_text("id\tl1\nA\tes\n")
    with pytest.raises(ValueError, match="No group column gender"):
        fairness_section(["A", "B"], np.array([3.0, 4.0]), np.array([3.0, 4.0]), SANDI, "overall", str(path),
                         ["gender"])
