"""Two more test formats end to end (IELTS-like and TOEFL-like): the quick main job trains both stages, scores,
writes the card and reloads through the pipeline; the saved model scores through remote code alone and batched;
training resumes; and a model for a new format starts from one of another test."""

import json
import os
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from modeling_sla import SLAForSessionScoring, load_test_format
from processing_sla import SLAProcessor
from sla_phi4.cli.demo import main as demo_main
from sla_phi4.data.kit import load_kit
from sla_phi4.testing import run_isolated
from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train
from sla_phi4.training.transfer import transferred_model


FORMATS = ["ielts-like", "toefl-like"]

ISOLATED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None      # the package must not be importable
    sys.modules["processing_sla"] = None
    from transformers import pipeline
    folder, sessions = sys.argv[1], json.load(open(sys.argv[2]))
    scorer = pipeline("spoken-language-assessment", model=folder, trust_remote_code=True)
    print(json.dumps({"alone": [scorer(session, decimals=None) for session in sessions],
                      "batched": scorer(sessions, batch_size=len(sessions), decimals=None)}, allow_nan=False))
    """
)


@pytest.fixture(scope="module", params=FORMATS)
def format_demo(request, tmp_path_factory):
    """The quick main job on a synthetic corpus of the format."""
    workdir = tmp_path_factory.mktemp(request.param)
    summary = demo_main(["--workdir", str(workdir), "--quick", "true", "--format", request.param])
    return load_test_format(request.param), workdir, summary


def arguments(stage, output_dir, epochs=2, **overrides):
    return SLATrainingArguments(
        stage=stage, output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=3e-3, seed=0,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, **overrides)


@pytest.mark.slow
def test_the_quick_main_job_runs_on_the_format(format_demo):
    test_format, workdir, summary = format_demo
    model = workdir / "model"
    assert json.loads((model / "test_format.json").read_text()) == test_format.to_dict()
    assert json.loads((model / "config.json").read_text())["test_format"]["name"] == test_format.name
    assert json.loads((workdir / "corpus" / "test_format.json").read_text())["name"] == test_format.name
    report = json.loads((workdir / "reports" / "eval" / "eval_report.json").read_text())
    assert report["test_format"] == test_format.name and set(report["metrics"]) <= set(test_format.score_names)
    for metrics in report["metrics"].values():
        assert {f"within_{value}" for value in test_format.scale.within} <= set(metrics)
    assert sorted(path.name for path in (workdir / "reports" / "eval" / "predictions").iterdir()) == sorted(
        f"eval-sla-{target}.tsv" for target in test_format.score_names)
    # the pipeline's result: exactly the format's targets, within their scales, with the format's levels
    result = summary["session"]
    assert result["test_format"] == test_format.name and "cefr" not in result
    assert list(result["scores"]) == list(result["levels"]) == test_format.score_names
    for name, value in result["scores"].items():
        scale = test_format.target_scale(name)
        assert value is not None and scale.min <= value <= scale.max, (name, value)
        assert result["levels"][name] == test_format.level(name, value)
    card = (model / "README.md").read_text()
    assert f"the {test_format.title} speaking test ({test_format.name})" in card
    assert "shaped after the test's public description; it is not the test's official scoring" in card


@pytest.mark.slow
def test_remote_code_scores_alone_as_batched(format_demo, tmp_path):
    test_format, workdir, _ = format_demo
    sessions = [{"session_id": row["session_id"], "responses": row["responses"]}
                for row in load_kit(workdir / "corpus", "eval")][:3]
    cases = tmp_path / "sessions.json"
    cases.write_text(json.dumps(sessions))
    report = run_isolated(ISOLATED_SCRIPT, workdir / "model", cases, folder=tmp_path)
    model = SLAForSessionScoring.from_pretrained(workdir / "model").eval()
    processor = SLAProcessor.from_pretrained(workdir / "model")
    for session, alone, batched in zip(sessions, report["alone"], report["batched"]):
        with torch.no_grad():
            raw = model(**{key: value for key, value in processor(session).items() if torch.is_tensor(value)}).scores[0]
        assert alone["session_id"] == batched["session_id"] == session["session_id"]
        for name, value in zip(test_format.score_names, raw.tolist()):
            expected = test_format.report(name, value, None)
            assert alone["scores"][name] == pytest.approx(expected, abs=1e-5), name
            assert batched["scores"][name] == pytest.approx(alone["scores"][name], abs=1e-4), name


@pytest.mark.slow
def test_training_on_the_format_resumes_as_if_uninterrupted(format_demo, tmp_path):
    test_format, workdir, _ = format_demo
    data = DataArguments(corpus_root=str(workdir / "corpus"), cache_dir=str(workdir / "cache"))
    model_args = ModelArguments(checkpoint=str(workdir / "stage-app"), format=test_format.name)
    full = tmp_path / "full"
    train(model_args, data, arguments("sla", full, load_best_model_at_end=False, save_total_limit=None))
    first = sorted(full.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))[0]
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    os.symlink(first, resumed / first.name)
    train(model_args, data, arguments("sla", resumed, load_best_model_at_end=False,
                                      resume_from_checkpoint=str(resumed / first.name)))
    expected, actual = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-6, msg=key)
    assert json.loads((resumed / "test_format.json").read_text())["name"] == test_format.name


@pytest.mark.slow
def test_a_model_for_the_format_starts_from_one_of_another_test(format_demo, tiny_checkpoint, tmp_path):
    """`--init_from`: backbone, LoRA and APP kept from the S&I model, the head made anew; stage sla trains it."""
    test_format, workdir, _ = format_demo
    source = load_file(tiny_checkpoint / "model.safetensors")
    model = transferred_model(str(tiny_checkpoint), test_format.name)
    assert model.config.score_names == test_format.score_names
    assert model.config.band_values == [2.0 + 0.5 * band for band in range(8)]  # the S&I APP's bands
    state = model.state_dict()
    for key, value in source.items():
        if key.startswith("head."):
            assert state[key].shape != value.shape or not torch.equal(state[key], value) or "feature" in key, key
        else:
            torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    assert torch.equal(model.head.feature_mean, torch.zeros_like(model.head.feature_mean))
    output = tmp_path / "transfer"
    data = DataArguments(corpus_root=str(workdir / "corpus"))
    train(ModelArguments(init_from=str(tiny_checkpoint), format=test_format.name), data,
          arguments("sla", output, save_strategy="no", load_best_model_at_end=False))
    assert json.loads((output / "test_format.json").read_text())["name"] == test_format.name
    assert SLAProcessor.from_pretrained(output).score_names == test_format.score_names
    with pytest.raises(ValueError, match="keeps the APP of the model it starts from"):
        train(ModelArguments(init_from=str(tiny_checkpoint), format=test_format.name), data,
              arguments("app", tmp_path / "app"))
    with pytest.raises(ValueError, match="scores the sandi2025 format, not --format"):
        train(ModelArguments(checkpoint=str(tiny_checkpoint), format=test_format.name), data,
              arguments("sla", tmp_path / "wrong"))
    with pytest.raises(ValueError, match="give its --format"):
        train(ModelArguments(init_from=str(tiny_checkpoint)), data, arguments("sla", tmp_path / "noformat"))
