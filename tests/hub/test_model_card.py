"""The Hub model card: metadata and model-index from evaluation reports, and code in the card that really runs."""

import copy
import json
import math
import re
import shutil
import textwrap

import pytest
import torch
from huggingface_hub import ModelCard

from modeling_sla import load_test_format
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from sla_phi4.cli.card import main
from sla_phi4.hub.model_card import METRICS, write_model_card
from sla_phi4.testing import run_isolated


REPO_ID = "sla-org/sla-phi4-tiny"
NAMES = ["P1", "P3", "P4", "P5", "overall"]


def metric_block(offset: float) -> dict:
    return {name: {"rmse": round(0.41 + offset + 0.01 * i, 4), "pcc": round(0.72 - 0.02 * i, 4), "src": 0.69 - offset,
                   "krc": 0.51, "within_0.5": 73.3 - 10 * offset, "within_1.0": 96.7, "count": 30}
            for i, name in enumerate(NAMES)}


EVAL_REPORT = {
    "split": "eval", "dataset": {"name": "Synthetic S&I-layout corpus", "id": "synthetic"}, "num_sessions": 30,
    "metrics": metric_block(0.0),
    "baselines": {"train_mean": metric_block(0.6), "acoustic_ridge": metric_block(0.25)},
}
DEV_REPORT = {
    "split": "dev", "dataset": {"name": "Synthetic S&I-layout corpus", "id": "synthetic"}, "num_sessions": 20,
    "metrics": {**metric_block(0.05), "P4": {**metric_block(0.05)["P4"], "pcc": float("nan")}},
    "calibration": {"fitted_on": "eval", "metrics": metric_block(0.03)},
}
TRAINING = {"corpus": "synthetic S&I-layout corpus (200 sessions)", "stage_app_epochs": 30, "stage_sla_epochs": 15,
            "learning_rate": 5e-4}

RUN_BLOCKS = textwrap.dedent(
    """
    import contextlib, io, json, sys
    sys.modules["modeling_sla"] = None      # the package must not be importable
    sys.modules["processing_sla"] = None
    import numpy as np

    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, np.ndarray):
            return value.tolist()
        return value

    records = []
    for index, code in enumerate(json.load(open(sys.argv[1]))):
        namespace, stdout = {"__name__": "__main__"}, io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, f"<card block {index}>", "exec"), namespace)
        record = {"stdout": stdout.getvalue()}
        if "session" in namespace:
            record["session"] = plain(namespace["session"])
        if "scores" in namespace:
            record["scores"] = namespace["scores"].tolist()
        if "result" in namespace:
            record["result"] = namespace["result"]
        records.append(record)
    print(json.dumps(records, allow_nan=False))
    """
)



@pytest.fixture(scope="module")
def card_folder(tiny_model, tiny_processor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("card") / "sla-phi4-tiny"
    save_pretrained_with_pipeline(tiny_model, tiny_processor, folder)
    path = write_model_card(folder, [EVAL_REPORT, DEV_REPORT], repo_id=REPO_ID, training=TRAINING)
    assert path == folder / "README.md"
    return folder


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_metadata(card_folder):
    card = ModelCard.load(card_folder / "README.md")
    data = card.data
    assert data.license == "mit" and data.language == "en" and data.library_name == "transformers"
    assert data.pipeline_tag == "audio-classification"
    assert data.base_model is None  # the tiny checkpoint's backbone is a random stand-in, not Phi-4's weights
    assert data.get("stand_in_for") == "microsoft/Phi-4-multimodal-instruct"
    assert "random-stand-in-backbone" in data.tags
    for tag in ("spoken-language-assessment", "speech", "language-assessment", "cefr", "phi-4", "lora", "custom_code"):
        assert tag in data.tags, tag
    assert data.get("inference") is False
    assert data.datasets is None  # "synthetic" is no Hub dataset id
    assert data.model_name == "sla-phi4-tiny"


def test_model_index_equals_the_reports(card_folder):
    results = ModelCard.load(card_folder / "README.md").data.eval_results
    reports = {"eval": EVAL_REPORT, "dev": DEV_REPORT}
    expected = {(split, target, metric) for split, report in reports.items() for target, values in
                report["metrics"].items() for metric in METRICS if math.isfinite(values[metric])}
    seen = set()
    for result in results:
        report = reports[result.dataset_split]
        assert result.task_type == "audio-classification"
        assert result.dataset_type == "synthetic" and result.dataset_name == "Synthetic S&I-layout corpus"
        assert result.metric_value == report["metrics"][result.metric_config][result.metric_type]
        seen.add((result.dataset_split, result.metric_config, result.metric_type))
    assert len(results) == len(seen) == len(expected) == 2 * 5 * 6 - 1  # dev's NaN P4 PCC is left out
    assert seen == expected


def test_body(card_folder):
    text = ModelCard.load(card_folder / "README.md").text
    assert "Demonstration checkpoint" in text and "synthetic speech" in text
    assert "reduced-size" in text  # the tiny parts are not the released Phi-4 / Whisper weights
    assert "the Speak & Improve speaking test (sandi2025)" in text and "scale 2.0-5.5 in steps of 0.5" in text
    assert "| CEFR | A2 | A2+ | B1 | B1+ | B2 | B2+ | C1 | C1+ |" in text
    assert "| `P1` | P1, interview: short answers to questions about the learner | 1-6 |" in text
    assert "| `overall` | the whole session: the mean of the parts | all |" in text
    assert "not the test's official scoring" not in text  # S&I's format is the test's own
    assert "overall_mode=\"head\"" in text
    assert "Eval split of Synthetic S&I-layout corpus (30 sessions)" in text
    assert "Dev split of Synthetic S&I-layout corpus (20 sessions)" in text
    # the model beside the baselines, as formatted numbers
    assert "| overall | **this model** | 0.450 | 0.640 | 0.690 | 0.510 | 73.3 | 96.7 |" in text
    assert "| overall | training mean | 1.050 | 0.640 | 0.090 | 0.510 | 67.3 | 96.7 |" in text
    assert "| P1 | timing ridge | 0.660 |" in text
    assert "| P1 | this model, calibrated on eval | 0.440 |" in text
    assert "| P4 | **this model** | 0.480 | n/a |" in text
    assert "| stage_sla_epochs | 15 |" in text and "| learning_rate | 0.0005 |" in text
    for heading in ("## What it scores", "## Model", "## Training", "## Evaluation", "## How to use",
                    "## Limitations and risks"):
        assert heading in text, heading
    assert "high-stakes" in text and "Fairness is not established" in text
    assert len(python_blocks(text)) == 2 and REPO_ID in python_blocks(text)[0]


def test_the_code_in_the_card_runs(card_folder, tiny_model, tiny_processor, tmp_path):
    text = ModelCard.load(card_folder / "README.md").text
    blocks = [block.replace(REPO_ID, str(card_folder)) for block in python_blocks(text)]
    assert all("trust_remote_code=True" in block for block in blocks)
    assert "AutoModel" in blocks[0] and "pipeline(" in blocks[1]
    blocks_file = tmp_path / "blocks.json"
    blocks_file.write_text(json.dumps(blocks))
    records = run_isolated(RUN_BLOCKS, blocks_file, folder=tmp_path)
    assert len(records) == 2
    # AutoModel/AutoProcessor: the scores it prints are the model's
    with torch.no_grad():
        expected = tiny_model(**tiny_processor(records[0]["session"])).scores[0]
    torch.testing.assert_close(torch.tensor(records[0]["scores"]), expected, rtol=0, atol=1e-5)
    assert all(name in records[0]["stdout"] for name in NAMES)
    # the pipeline: clipped, rounded scores with CEFR levels
    scored = records[1]["result"]
    with torch.no_grad():
        raw = tiny_model(**tiny_processor(records[1]["session"])).scores[0].tolist()
    parts = {response["part"] for response in records[1]["session"]["responses"]}
    for name, value in zip(NAMES, raw):
        if name not in parts:  # parts never spoken, and overall of a partial session, get no score
            assert scored["scores"][name] is None and scored["cefr"][name] is None
            continue
        assert scored["scores"][name] == pytest.approx(min(max(value, 2.0), 5.5), abs=0.005 + 1e-6)
        assert scored["cefr"][name] == load_test_format("sandi2025").level(name, scored["scores"][name])
    assert [w["reason"] for w in scored["warnings"] if w["response_id"] is not None] == ["no_speech"]  # noise
    assert "'P1'" in records[1]["stdout"] and "warnings" in records[1]["stdout"]


def test_full_size_checkpoint_without_pipeline(tiny_checkpoint, tmp_path):
    """A non-synthetic report, a released-size config, overall as the part mean, no pipeline: the card says so."""
    folder = tmp_path / "plain"
    shutil.copytree(tiny_checkpoint, folder, ignore=shutil.ignore_patterns("parts"))
    config = json.loads((folder / "config.json").read_text())
    config["audio_llm_config"].update(hidden_size=3072, num_hidden_layers=32)
    config["app_encoder_config"].update(d_model=1280, encoder_layers=32)
    config["overall_mode"] = "part_mean"
    (folder / "config.json").write_text(json.dumps(config))
    report = copy.deepcopy(EVAL_REPORT)
    report["dataset"] = {"name": "Speak & Improve Corpus 2025", "id": "/data/sandi-corpus"}
    del report["baselines"]
    write_model_card(folder, [report], dataset_id="sla-org/speak-improve-2025")
    card = ModelCard.load(folder / "README.md")
    assert card.data.datasets == ["sla-org/speak-improve-2025"]
    assert {result.dataset_type for result in card.data.eval_results} == {"sla-org/speak-improve-2025"}
    assert card.data.model_name == "plain"
    text = card.text
    assert "Demonstration checkpoint" not in text and "reduced-size" not in text
    assert "32 decoder layers of width 3072" in text
    assert "`overall` is the mean of the part scores" in text
    assert "saved without the `spoken-language-assessment` pipeline" in text
    assert card.data.base_model == "microsoft/Phi-4-multimodal-instruct"  # released sizes: its weights
    assert len(python_blocks(text)) == 1 and 'repo_id = "YOUR-ORG/YOUR-MODEL"' in text and "is a placeholder" in text
    assert str(folder.resolve()) not in text
    assert "Trained on the Speak & Improve Corpus 2025" in text
    # a local corpus path is no dataset id: without dataset_id it becomes a slug of the name
    write_model_card(folder, [report])
    card = ModelCard.load(folder / "README.md")
    assert card.data.datasets is None
    assert {result.dataset_type for result in card.data.eval_results} == {"speak-improve-corpus-2025"}


def test_cli_and_errors(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder, ignore=shutil.ignore_patterns("parts"))
    (tmp_path / "eval_report.json").write_text(json.dumps(EVAL_REPORT))
    (tmp_path / "training.json").write_text(json.dumps(TRAINING))
    main(["--checkpoint", str(folder), "--report", str(tmp_path / "eval_report.json"), "--repo-id", REPO_ID,
          "--training", str(tmp_path / "training.json")])
    assert f"sla card: wrote {folder / 'README.md'}" in capsys.readouterr().out
    assert len(ModelCard.load(folder / "README.md").data.eval_results) == 5 * 6
    with pytest.raises(FileNotFoundError, match="no config.json"):
        write_model_card(tmp_path, [EVAL_REPORT])
    with pytest.raises(ValueError, match="no 'metrics'"):
        write_model_card(folder, [{"split": "eval", "dataset": {"name": "x", "id": "x"}}])


def test_card_follows_the_backbone_family_and_the_whisper_ridge(family_checkpoints, tmp_path):
    folder = tmp_path / "voxtral"
    shutil.copytree(family_checkpoints("voxtral"), folder, ignore=shutil.ignore_patterns("parts"))
    report = copy.deepcopy(EVAL_REPORT)
    report["baselines"]["whisper_ridge"] = metric_block(0.1)
    write_model_card(folder, [report], app_encoder="openai/whisper-base")
    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model is None and card.data.get("stand_in_for") == "mistralai/Voxtral-Mini-3B-2507"
    assert "voxtral" in card.data.tags
    assert "phi-4" not in card.data.tags and "speech LoRA merged" not in card.text
    assert "reduced-size stand-in for [mistralai/Voxtral-Mini-3B-2507]" in card.text
    assert "| P1 | pooled-Whisper ridge (the APP's input) | 0.510 |" in card.text
    assert "(Apache-2.0)" in card.text


# ------------------------------------------------------------------------------- install line, repo id, counts
def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def test_the_install_line_is_what_the_remote_code_imports(card_folder):
    from sla_phi4.hub.remote_requirements import code_files, requirements, third_party_modules

    (line,) = bash_blocks(ModelCard.load(card_folder / "README.md").text)
    modules = third_party_modules(code_files(card_folder))
    assert {"silero_vad", "soundfile", "soxr", "peft", "transformers", "torch", "jinja2"} <= modules
    assert not modules & {"os", "json", "modeling_sla", "processing_sla", "sla_phi4", "pipeline_sla"}
    assert line.strip() == "pip install " + " ".join(f'"{requirement}"' for requirement in requirements(card_folder))
    assert '"silero-vad' in line and '"transformers<6,>=5.0"' in line


def test_optional_imports_are_not_required():
    from sla_phi4.hub.remote_requirements import imported_modules

    source = ("import os\ntry:\n    import flash_attn\nexcept ImportError:\n    pass\n"
              "from peft import x\nfrom . import y\n")
    assert imported_modules(source) == {"os", "peft"}


def test_model_index_figures_carry_their_session_count_and_small_ones_stay_in_the_body(tiny_checkpoint, tmp_path):
    folder = tmp_path / "counts"
    shutil.copytree(tiny_checkpoint, folder, ignore=shutil.ignore_patterns("parts"))
    report = copy.deepcopy(EVAL_REPORT)
    report["metrics"]["P5"].update(count=2, pcc=1.0, src=1.0, krc=1.0)
    write_model_card(folder, [report], repo_id=REPO_ID)
    card = ModelCard.load(folder / "README.md")
    results = card.data.eval_results
    assert {result.metric_config for result in results} == {"P1", "P3", "P4", "overall"}
    assert all(result.metric_args == {"sessions": 30} and "(30 sessions)" in result.metric_name for result in results)
    assert "| P5 | **this model** | 0.440 | 1.000 | 1.000 | 1.000 | 73.3 | 96.7 | 2 |" in card.text
    assert "| P1 | training mean | 1.010 | 0.720 | 0.090 | 0.510 | 67.3 | 96.7 | 30 |" in card.text
    assert "only figures from at least 30 sessions" in card.text


def test_the_cards_repo_id_is_a_hub_id_or_a_placeholder(tiny_checkpoint, tmp_path):
    folder = tmp_path / "ids"
    shutil.copytree(tiny_checkpoint, folder, ignore=shutil.ignore_patterns("parts"))
    for path in (str(folder), "./runs/sla", "/abs/model"):
        with pytest.raises(ValueError, match="not a Hub id"):
            write_model_card(folder, [EVAL_REPORT], repo_id=path)
    text = ModelCard.load(write_model_card(folder, [EVAL_REPORT])).text
    assert 'repo_id = "YOUR-ORG/YOUR-MODEL"' in text
    assert "is a placeholder" in text and str(folder) not in text
