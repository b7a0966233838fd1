"""`sla calibrate`, then `sla score --groups`: the calibration lands in the checkpoint, the report's uncertainty and
fairness sections and the referrals file are written, the card shows them, and the pipeline (loaded where the package
is not) gives the same intervals and referrals as the report."""

import json
import shutil
import textwrap

import numpy as np
import pytest

from modeling_sla import SLAForSessionScoring
from processing_sla import SLAProcessor
from sla_phi4.cli.calibrate import main as calibrate_main
from sla_phi4.cli.score import main as score_main
from sla_phi4.data.kit import load_kit
from sla_phi4.evaluation.predictions import gather_evidence
from sla_phi4.evaluation.uncertainty import apply_intervals
from sla_phi4.hub.model_card import write_model_card
from sla_phi4.testing import run_isolated


ISOLATED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None
    sys.modules["processing_sla"] = None
    from transformers import pipeline
    scorer = pipeline("spoken-language-assessment", model=sys.argv[1], trust_remote_code=True)
    print(json.dumps(scorer(json.load(open(sys.argv[2])), decimals=None), allow_nan=False))
    """
)


@pytest.fixture(scope="module")
def calibrated(tiny_checkpoint, tmp_path_factory):
    from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
    from sla_phi4.data.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("calibrated")
    corpus = root / "corpus"
    make_synthetic_corpus(corpus, sessions=70, seed=5, duration_scale=0.05, progress=False,
                          split_shares={"train": 0.2, "dev": 0.4, "eval": 0.4})
    model_dir = root / "model"
    save_pretrained_with_pipeline(SLAForSessionScoring.from_pretrained(tiny_checkpoint),
                                  SLAProcessor.from_pretrained(tiny_checkpoint), model_dir)
    shutil.copytree(model_dir, root / "uncalibrated")
    calibration = calibrate_main(["--checkpoint", str(model_dir), "--corpus_root", str(corpus), "--cache_dir",
                                  str(root / "cache")])
    return root, corpus, model_dir, calibration


@pytest.mark.slow
def test_calibration_is_saved_in_the_checkpoint(calibrated):
    root, _, model_dir, calibration = calibrated
    config = json.loads((model_dir / "config.json").read_text())
    assert config["uncertainty"] == json.loads(json.dumps(calibration))
    assert calibration["calibrated_on"] == "dev" and calibration["coverage"] == 0.9
    assert calibration["method"] in ("split", "normalized", "mondrian")
    report = json.loads((model_dir / "calibration_report.json").read_text())
    assert set(report["cross_fitted"]) == {"split", "normalized", "mondrian"} and report["sessions"] == 28
    assert set(calibration["targets"]) == {"P1", "P3", "P4", "P5", "overall"}


@pytest.mark.slow
def test_score_writes_uncertainty_fairness_referrals_and_the_card_shows_them(calibrated, capsys):
    root, corpus, model_dir, _ = calibrated
    output = root / "report"
    score_main(["--checkpoint", str(model_dir), "--corpus_root", str(corpus), "--split", "eval", "--output_dir",
                str(output), "--cache_dir", str(root / "cache"), "--groups",
                str(corpus / "reference-materials" / "speakers.tsv"), "--group_columns", "l1_voice"])
    printed = capsys.readouterr().out
    assert "Intervals (" in printed and "Referred to an examiner" in printed and "l1_voice: OSA" in printed
    report = json.loads((output / "eval_report.json").read_text())
    uncertainty = report["uncertainty"]
    assert set(uncertainty["targets"]) == {"P1", "P3", "P4", "P5", "overall"}
    assert all(0 <= values["coverage"] <= 1 for values in uncertainty["targets"].values())
    lines = (output / "eval-referrals.tsv").read_text().splitlines()
    assert lines[0] == "submission_id\trefer_to_examiner\treasons" and len(lines) == 1 + report["num_sessions"]
    assert sum(line.split("\t")[1] == "1" for line in lines[1:]) == uncertainty["referrals"]["sessions"]
    assert "rejection" in uncertainty and (output / "eval-uncertainty.png").is_file()
    assert list(report["fairness"]["columns"]) == ["l1_voice"] and report["fairness"]["by_band"]
    card = write_model_card(model_dir, [report]).read_text()
    assert "**Intervals and referral**" in card and "| overall | " in card.split("**Intervals and referral**")[1]
    assert "**Fairness of overall**" in card and "| l1_voice " in card and "`l1_voice`: OSA" in card

    # the pipeline, loaded where the package is not, gives the report's intervals and referrals
    rows = list(load_kit(corpus, "eval"))[:3]
    sessions = [{"session_id": row["session_id"], "responses": row["responses"]} for row in rows]
    cases = root / "sessions.json"
    cases.write_text(json.dumps(sessions))
    results = run_isolated(ISOLATED_SCRIPT, model_dir, cases, folder=root)
    referred = {line.split("\t")[0]: line.split("\t")[1] == "1" for line in lines[1:]}
    model = SLAForSessionScoring.from_pretrained(model_dir)
    evidence, _ = gather_evidence(model, SLAProcessor.from_pretrained(model_dir), rows)
    test_format = model.config.get_test_format()
    lows, highs = apply_intervals(model.config.uncertainty, evidence, test_format, model.config.band_values)
    for row, result in enumerate(results):
        assert result["refer_to_examiner"] == referred[result["session_id"]]
        for column, name in enumerate(test_format.score_names):
            assert result["intervals"][name] == pytest.approx([lows[row, column], highs[row, column]], abs=1e-4)
            assert result["intervals"][name][0] <= result["scores"][name] <= result["intervals"][name][1]


@pytest.mark.slow
def test_an_uncalibrated_model_gives_no_intervals(calibrated, tmp_path):
    root, corpus, _, _ = calibrated
    row = list(load_kit(corpus, "eval"))[0]
    cases = tmp_path / "session.json"
    cases.write_text(json.dumps({"session_id": row["session_id"], "responses": row["responses"]}))
    result = run_isolated(ISOLATED_SCRIPT, root / "uncalibrated", cases, folder=tmp_path)
    assert result["intervals"] is None
    flagged = [warning for warning in result["warnings"] if warning["response_id"] is not None]
    assert result["refer_to_examiner"] == bool(flagged) and len(result["referral_reasons"]) == len(flagged)
    assert np.isfinite(result["scores"]["overall"])
