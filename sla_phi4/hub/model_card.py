#!/usr/bin/env python
"""Writes the Hub model card (README.md) of an SLA checkpoint from its config and evaluation reports.

    sla card --checkpoint runs/sla --report reports/eval/eval_report.json \
        [--report reports/dev/dev_report.json] [--repo-id ORG/NAME] [--dataset-id ORG/DATA] [--training training.json]

The card is rendered from `hub_card/model_card_template.md` with huggingface_hub's `ModelCard.from_template`: YAML
metadata (licence, language, tags, base model, datasets) and a `model-index` with one result per target and metric
of every report that rests on enough sessions (`hub_card/card_settings.json`; each carries its session count), then
what the model scores, how it was trained and evaluated (the metric tables with the baselines beside the model and
each figure's session count), its limits, the install line its remote code needs (`remote_requirements`), and code
that loads it with `trust_remote_code=True` from its Hub id (or a placeholder, said so). `base_model` names the
backbone only when the checkpoint holds its weights: a reduced-size random stand-in is tagged as one instead.

A report is the JSON that `sla score` writes: `{"split", "dataset": {"name", "id"}, "num_sessions",
"metrics": {target: {"rmse", "pcc", "src", "krc", "within_0.5", "within_1.0", "count"}}, "baselines": {...}}`.
"""

import json
import math
import os
import re
import struct
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from modeling_sla.pipeline_sla import OVERALL_RULE_WORDS
from modeling_sla.test_format_sla import TestFormat, load_test_format
from sla_phi4.hub.remote_requirements import install_line
from sla_phi4.resources import package_file


TEMPLATE = package_file("sla_phi4.hub_card", "model_card_template.md")
TASK = "spoken-language-assessment"
PIPELINE_TAG = "audio-classification"  # no Hub pipeline tag scores audio on a scale; this is the closest audio one
METRICS = ("rmse", "pcc", "src", "krc", "within_0.5", "within_1.0")
METRIC_NAMES = {"rmse": "RMSE", "pcc": "PCC", "src": "SRC", "krc": "KRC", "within_0.5": "% within 0.5",
                "within_1.0": "% within 1.0"}
BASELINE_NAMES = {"train_mean": "training mean", "acoustic_ridge": "timing ridge",
                  "whisper_ridge": "pooled-Whisper ridge (the APP's input)"}
TAGS = ["spoken-language-assessment", "speech", "language-assessment", "whisper", "lora", "custom_code"]
OFFICIAL_FORMATS = ("sandi2025",)  # formats that are a test's own; the others are shaped after public descriptions
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# The released backbones and APP encoders: repos, licences, tags, and sizes that tell a release from a stand-in.
RELEASED = json.loads(package_file("sla_phi4.hub_card", "released_models.json").read_text())
CARD_SETTINGS = json.loads(package_file("sla_phi4.hub_card", "card_settings.json").read_text())
MODEL_INDEX_MIN_SESSIONS = CARD_SETTINGS["model_index_min_sessions"]
PLACEHOLDER_REPO_ID = CARD_SETTINGS["placeholder_repo_id"]


# ------------------------------------------------------------------------------------------------------ helpers
def count_parameters(folder: Path) -> tuple[int, str | None]:
    """Parameters in the folder's safetensors files, read from their headers; and their dtype(s)."""
    total, dtypes = 0, set()
    for path in sorted(folder.glob("*.safetensors")):
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            total += math.prod(entry["shape"])
            dtypes.add(entry["dtype"])
    return total, ", ".join(sorted(dtypes)) or None


def human_count(count: int) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= limit:
            return f"{count / limit:.1f}{suffix}"
    return str(count)


def looks_like_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or "\\" in value or os.path.isdir(value)


def is_hub_id(value: str) -> bool:
    """`ORG/NAME` that is not a local folder or path."""
    return bool(_HUB_ID.match(value)) and not looks_like_path(value)


def dataset_type(report: dict, dataset_id: str | None) -> str:
    """The model-index dataset identifier: `dataset_id`, else the report's id unless it is a local path, else a slug
    of the dataset's name."""
    if dataset_id:
        return dataset_id
    dataset = report.get("dataset") or {}
    identifier = str(dataset.get("id") or "")
    if identifier and not looks_like_path(identifier):
        return identifier
    return re.sub(r"[^a-z0-9]+", "-", str(dataset.get("name") or "dataset").lower()).strip("-")


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if is_number(value) else "n/a"


def session_count(report: dict, values: dict) -> int | None:
    """The sessions a target's figures come from: its own `count`, else the report's `num_sessions`."""
    count = values.get("count", report.get("num_sessions"))
    return int(count) if is_number(count) else None


def eval_results(reports: list[dict], dataset_id: str | None) -> list[EvalResult]:
    """One EvalResult per report, target and metric, each with its session count (`metric_args`); missing or NaN
    values, and figures from fewer than `MODEL_INDEX_MIN_SESSIONS` sessions, left out (the body keeps them)."""
    results = []
    for report in reports:
        dataset = report.get("dataset") or {}
        for target, values in report["metrics"].items():
            sessions = session_count(report, values)
            if sessions is None or sessions < MODEL_INDEX_MIN_SESSIONS:
                continue
            for metric in METRICS:
                value = values.get(metric)
                if not is_number(value):
                    continue
                results.append(EvalResult(
                    task_type=PIPELINE_TAG,
                    task_name="Spoken Language Assessment",
                    dataset_type=dataset_type(report, dataset_id),
                    dataset_name=str(dataset.get("name") or dataset_type(report, dataset_id)),
                    dataset_split=report.get("split"),
                    metric_type=metric,
                    metric_value=value,
                    metric_name=f"{target} {METRIC_NAMES[metric]} ({sessions} sessions)",
                    metric_config=target,
                    metric_args={"sessions": sessions},
                ))
    return results


def metric_row(target: str, system: str, values: dict, sessions: int | None = None) -> dict:
    within = sorted((key for key in values if key.startswith("within_")), key=lambda k: float(k.split("_", 1)[1]))
    within += [None] * (2 - len(within))
    return {
        "sessions": "n/a" if sessions is None else sessions,
        "target": target, "system": system, "rmse": fmt(values.get("rmse")), "pcc": fmt(values.get("pcc")),
        "src": fmt(values.get("src")), "krc": fmt(values.get("krc")),
        "within_05": fmt(values.get(within[0]), 1), "within_10": fmt(values.get(within[1]), 1),
    }


def report_table(report: dict) -> dict:
    """Template rows of one report: per target, the model, its calibrated variant if any, then the baselines."""
    dataset = report.get("dataset") or {}
    sessions = report.get("num_sessions")
    title = f"{str(report.get('split', 'eval')).capitalize()} split of {dataset.get('name') or 'the corpus'}"
    if sessions is not None:
        title += f" ({sessions} sessions)"
    calibration = report.get("calibration") or {}
    rows = []
    extras = {"uncertainty": uncertainty_summary(report.get("uncertainty")),
              "fairness": fairness_summary(report.get("fairness"))}
    for target, values in report["metrics"].items():
        rows.append(metric_row(target, "**this model**", values, session_count(report, values)))
        if target in (calibration.get("metrics") or {}):
            calibrated = calibration["metrics"][target]
            rows.append(metric_row(target, f"this model, calibrated on {calibration.get('fitted_on', 'another split')}",
                                   calibrated, session_count(report, calibrated)))
        for baseline, tables in (report.get("baselines") or {}).items():
            if target in tables:
                rows.append(metric_row(target, BASELINE_NAMES.get(baseline, baseline.replace("_", " ")),
                                       tables[target], session_count(report, tables[target])))
    return {"title": title, "rows": rows, **extras}


def uncertainty_summary(section: dict | None) -> dict | None:
    """The card's lines on a report's intervals and referrals."""
    if not section:
        return None
    rejection = section.get("rejection") or {}
    rows = [{"target": name, "coverage": f"{values['coverage']:.3f} ({values['coverage_95ci'][0]:.3f}-"
                                         f"{values['coverage_95ci'][1]:.3f})", "width": fmt(values["mean_width"])}
            for name, values in (section.get("targets") or {}).items()]
    return {"method": section["method"], "coverage": f"{section['coverage_target']:.0%}",
            "calibrated_on": section.get("calibrated_on") or "a held-out split",
            "referred": f"{section['referrals']['share']:.1%}", "rows": rows,
            "prr": fmt(rejection["prr"], 2) if is_number(rejection.get("prr")) else None,
            "reduction": f"{rejection['rmse_reduction_at_referral_share']:.1%}" if rejection else None}


def fairness_summary(section: dict | None) -> dict | None:
    """The card's fairness table: by reference band, then by each group column's groups; and OSA, OSD, CSD."""
    if not section:
        return None

    def row(group: str, values: dict) -> dict:
        interval = values.get("mean_signed_error_95ci")
        shown = f"{values['mean_signed_error']:+.3f}" + (f" ({interval[0]:+.3f} to {interval[1]:+.3f})" if interval
                                                         else "")
        return {"group": group, "n": values["n"], "rmse": fmt(values["rmse"]), "mse": shown}

    rows = [row(f"band {band}", values) for band, values in section["by_band"].items()]
    measures = []
    for column, values in (section.get("columns") or {}).items():
        rows += [row(f"{column} {group}", entry) for group, entry in values["groups"].items()]
        measures.append({"name": column, **{key: fmt(values[key]["r2"]) for key in ("osa", "osd", "csd")}})
    return {"target": section["target"], "rows": rows, "measures": measures}


def is_synthetic(reports: list[dict], training: dict | None) -> bool:
    names = [str((report.get("dataset") or {}).get(key, "")) for report in reports for key in ("name", "id")]
    names += [str(value) for value in (training or {}).values() if isinstance(value, str)]
    return any("synthetic" in name.lower() for name in names)


def backbone_release(config: dict) -> dict:
    """The released backbone of the checkpoint's family (Phi-4-multimodal when the config names none)."""
    model_type = (config.get("audio_llm_config") or {}).get("model_type", "phi4_multimodal")
    return RELEASED["backbones"][model_type]


def text_config(config: dict) -> dict:
    """The backbone's language model config inside the SLA config."""
    part = config.get("audio_llm_config") or {}
    for key in backbone_release(config)["text"]:
        part = part.get(key) or {}
    return part


def differs(part: dict, sizes: dict) -> bool:
    return any(part.get(name) not in (None, value) for name, value in sizes.items())


def backbone_is_stand_in(config: dict) -> bool:
    """Whether the backbone has other sizes than its family's release (a reduced-size stand-in: tests, demos)."""
    return differs(text_config(config), backbone_release(config)["sizes"])


def app_encoder_is_stand_in(config: dict, repo: str) -> bool:
    """Whether the APP's Whisper has other sizes than the release `repo` (unknown repos are taken as they are)."""
    release = RELEASED["app_encoders"].get(repo)
    return release is not None and differs(config.get("app_encoder_config") or {}, release["sizes"])


def score_rows(test_format: TestFormat) -> list[dict]:
    """The card's table of targets: each part's title, description and answer count, then overall."""
    rows = []
    for part in test_format.parts:
        answers = str(part.max_responses) if part.min_responses == part.max_responses else \
            f"{part.min_responses}-{part.max_responses}"
        rows.append({"name": part.id, "description": f"{part.id}, {part.description}", "answers": answers})
    if test_format.overall is not None:
        rule = OVERALL_RULE_WORDS[test_format.overall.rule]
        rows.append({"name": "overall", "description": f"the whole session: {rule} the parts", "answers": "all"})
    return rows


def format_variables(test_format: TestFormat) -> dict:
    """The template's variables that describe the test format."""
    overall = test_format.overall
    return {
        "test_title": test_format.title, "test_name": test_format.name, "test_description": test_format.description,
        "official_format": test_format.name in OFFICIAL_FORMATS, "level_name": test_format.level_name,
        "score_rows": score_rows(test_format), "part_ids": test_format.part_ids,
        "scale_min": test_format.scale.min, "scale_max": test_format.scale.max, "scale_step": test_format.scale.step,
        "levels": [(f"{level.start:g}", level.label) for level in test_format.levels],
        "within": [f"{value:g}" for value in test_format.scale.within],
        "overall_rule": None if overall is None else OVERALL_RULE_WORDS[overall.rule],
        "overall_round": overall is not None and overall.round == "step",
        "overall_scale": None if overall is None or overall.scale is None else (overall.scale.min, overall.scale.max),
        "overall_levels": None if overall is None or overall.levels is None else
        [(f"{level.start:g}", level.label) for level in overall.levels],
    }


def backbone_summary(config: dict) -> str | None:
    text = text_config(config)
    layers, hidden = text.get("num_hidden_layers"), text.get("hidden_size")
    if not (layers and hidden):
        return None
    return f"{layers} decoder layers of width {hidden}"


# ----------------------------------------------------------------------------------------------------- the card
def write_model_card(
    checkpoint_dir: str | os.PathLike,
    reports: list[dict],
    *,
    base_model: str | None = None,
    app_encoder: str = "openai/whisper-large-v3",
    dataset_id: str | None = None,
    training: dict | None = None,
    repo_id: str | None = None,
) -> Path:
    """Writes `checkpoint_dir/README.md` and returns its path.

    Args:
        checkpoint_dir: a saved checkpoint (its `config.json` gives the targets, scale and architecture).
        reports: evaluation reports (see the module docstring), e.g. the eval and dev splits.
        base_model, app_encoder: Hub ids of the backbone (default: the release of the checkpoint's backbone family)
            and of the APP's Whisper encoder.
        dataset_id: Hub id of the evaluation/training dataset, for `datasets` and the model-index; by default the
            reports' dataset ids (local paths are replaced by a slug of the dataset name, and kept out of `datasets`).
        training: training settings to show (e.g. `{"corpus": ..., "epochs": ..., "learning_rate": ...}`).
        repo_id: the Hub repo the card is for; the code shown loads it. Without it, the code loads
            `PLACEHOLDER_REPO_ID` and the card says to replace it (a local path is refused: the card is for the Hub).
    """
    if repo_id is not None and not is_hub_id(repo_id):
        raise ValueError(f"--repo-id {repo_id!r} is not a Hub id (ORG/NAME): the card's code loads the model from the "
                         "Hub, so it must name the repo, not a folder.")
    folder = Path(checkpoint_dir)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a saved checkpoint.")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for report in reports:
        if not isinstance(report.get("metrics"), dict) or not report["metrics"]:
            raise ValueError(f"Report of split {report.get('split')!r} has no 'metrics'.")

    model_name = repo_id.split("/")[-1] if repo_id else folder.resolve().name
    release = backbone_release(config)
    base_model = base_model or release["repo"]
    stand_in = backbone_is_stand_in(config)
    test_format = load_test_format(config.get("test_format"))
    score_names = test_format.score_names
    if dataset_id:
        datasets = [dataset_id]
    else:
        ids = {str((report.get("dataset") or {}).get("id") or "") for report in reports}
        datasets = sorted(i for i in ids if is_hub_id(i)) or None
    results = eval_results(reports, dataset_id)
    card_data = ModelCardData(
        license="mit",
        language="en",
        library_name="transformers",
        pipeline_tag=PIPELINE_TAG,
        tags=list(TAGS) + list(test_format.tags) + release["tags"] + ([CARD_SETTINGS["stand_in_tag"]] if stand_in
                                                                       else []),
        base_model=None if stand_in else base_model,  # only a checkpoint holding the backbone's weights is based on it
        stand_in_for=base_model if stand_in else None,
        datasets=datasets,
        model_name=model_name,
        eval_results=results or None,
        inference=False,  # the Hub widget cannot run custom code on whole sessions
    )
    num_parameters, dtype = count_parameters(folder)
    synthetic = is_synthetic(reports, training)
    named = [str((report.get("dataset") or {}).get("name") or "") for report in reports]
    training_data = (training or {}).get("corpus") or ("synthetic speech" if synthetic else
                                                       f"the {next((n for n in named if n), test_format.title)}")
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=model_name,
        repo_ref=repo_id or PLACEHOLDER_REPO_ID,
        repo_placeholder=repo_id is None,
        install_line=install_line(folder),
        min_sessions=MODEL_INDEX_MIN_SESSIONS,
        task=TASK,
        synthetic=synthetic,
        base_model=base_model,
        app_encoder=app_encoder,
        score_names=score_names,
        **format_variables(test_format),
        overall_mode=config.get("overall_mode", "head"),
        use_app=config.get("use_app", True),
        num_app_classes=config.get("num_app_classes", 8),
        lora_rank=config.get("lora_rank"),
        lora_alpha=config.get("lora_alpha"),
        backbone_summary=backbone_summary(config),
        backbone_stand_in=stand_in,
        app_encoder_stand_in=app_encoder_is_stand_in(config, app_encoder),
        speech_lora=release["speech_lora"],
        backbone_licence=release["licence"],
        app_encoder_licence=RELEASED["app_encoders"].get(app_encoder, {}).get("licence", "see its model card"),
        num_parameters=human_count(num_parameters) if num_parameters else None,
        dtype=dtype,
        has_pipeline=TASK in (config.get("custom_pipelines") or {}) and (folder / "pipeline_sla.py").is_file(),
        training=[(str(key), value) for key, value in (training or {}).items()],
        training_data=training_data,
        reports=[report_table(report) for report in reports],
        fairness_measured=any(report.get("fairness", {}).get("columns") for report in reports),
    )
    path = folder / "README.md"
    card.save(path)
    return path
