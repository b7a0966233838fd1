"""The runs behind every ablation study: one main-job run (`sla demo`) per variant and seed, on one shared corpus and
one shared session cache, each in a folder named by what it changes, so that studies share the runs that are the same
model (the default run serves the LoRA-rank, overall-mode and truncation studies) and a rerun skips every run whose
summary is already there.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields

from sla_phi4.experiments.demo import DemoSettings, run


# Fields of DemoSettings that say where a run is, not what it is.
PLACE_FIELDS = ("workdir", "corpus_dir", "cache_dir", "seed", "model_card")
# A study's backbone unless one is asked for: the APP study keeps the paper's (its conformer is random, so words reach
# the model only through the APP); the others run the main job's.
STUDY_BACKBONES = {"app": "phi4"}


@dataclass
class StudySettings:
    """What every study shares.

    Args:
        study: `app`, `lora-rank`, `truncation`, `overall-mode` or `language`.
        workdir: holds the shared corpus (`corpus/`) and cache (`cache/`), the runs (`runs/`) and each study's
            `<study>.json`, `.md` and `.png`.
        seeds: seeds of the random weights and of training (the corpus is the main job's, seed 0).
        backbone: `phi4`, `voxtral` or `qwen2-audio`; None: the study's own default.
        quick: a smoke run (tiny corpus and model, two epochs).
        drop_responses: truncation study: the probability of the model trained with `--drop_responses`.
        draws: truncation study: random draws of each number of responses dropped.
        language_model: language study: the pretrained language model of its real-parts backbones (a pinned
            package's name or a Llama folder).
        full_size: language study: the main job's corpus and epochs rather than its CPU sizes.
    """

    study: str
    workdir: str = "runs/ablation"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    backbone: str | None = None
    quick: bool = False
    drop_responses: float = 0.15
    draws: int = 10
    language_model: str = "smollm2-135m"
    full_size: bool = False

    @property
    def corpus_dir(self) -> str:
        return os.path.join(self.workdir, "corpus")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.workdir, "cache")

    def __post_init__(self):
        self.backbone = self.backbone or STUDY_BACKBONES.get(self.study, DemoSettings.backbone)

    def output(self, extension: str) -> str:
        """Where the study writes its `json`, `md` or `png`."""
        return os.path.join(self.workdir, f"{self.study}.{extension}")


@dataclass(frozen=True)
class Variant:
    """One arm of a study: a label and the `DemoSettings` fields it changes."""

    label: str
    overrides: dict = field(default_factory=dict)


def demo_settings(study: StudySettings, variant: Variant, seed: int, workdir: str = "") -> DemoSettings:
    return DemoSettings(workdir=workdir, backbone=study.backbone, quick=study.quick, seed=seed,
                        corpus_dir=study.corpus_dir, cache_dir=study.cache_dir, model_card=False,
                        **variant.overrides)


def run_name(study: StudySettings, variant: Variant, seed: int) -> str:
    """`<backbone>-<what differs from the main job's defaults>-seed<N>`, e.g. `voxtral-lora_rank-4-seed1`; a variant
    equal to the defaults (rank 8 on the small stand-in) is `default`, whichever study asks for it."""
    chosen = asdict(demo_settings(study, variant, seed))
    defaults = asdict(demo_settings(study, Variant("default"), seed))
    changed = [f"{key}-{str(value).lower()}" for key, value in sorted(chosen.items())
               if key not in PLACE_FIELDS and value != defaults[key]]
    return f"{study.backbone}-{'_'.join(changed) or 'default'}{'-quick' if study.quick else ''}-seed{seed}"


def finished_summary(folder: str, settings: DemoSettings) -> dict | None:
    """The summary of a finished run with these very settings, else None. A setting the run's summary does not
    name (one added to DemoSettings since) counts as its default."""
    path = os.path.join(folder, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        summary = json.load(handle)
    saved, defaults = summary.get("settings", {}), {f.name: f.default for f in fields(DemoSettings)}
    same = all(saved.get(key, defaults[key]) == value for key, value in asdict(settings).items())
    return summary if same and "training" in summary else None


def run_variant(study: StudySettings, variant: Variant, seed: int) -> dict:
    """The summary of `variant` at `seed` (its folder in `summary["folder"]`): read back when that run has finished
    before, else trained and scored (an unfinished folder is started afresh)."""
    folder = os.path.join(study.workdir, "runs", run_name(study, variant, seed))
    settings = demo_settings(study, variant, seed, folder)
    summary = finished_summary(folder, settings)
    if summary is None:
        print(f"\n=== {study.study}: {variant.label}, seed {seed} ({folder}) ===", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        summary = run(settings)
    else:
        print(f"Reusing {variant.label}, seed {seed}: {folder}", flush=True)
    return {**summary, "folder": folder}


def run_variants(study: StudySettings, variants: list[Variant]) -> dict[str, list[dict]]:
    """`{variant label: [summary of each seed]}`."""
    return {variant.label: [run_variant(study, variant, seed) for seed in study.seeds] for variant in variants}


__all__ = ["STUDY_BACKBONES", "StudySettings", "Variant", "demo_settings", "finished_summary", "run_name",
           "run_variant", "run_variants"]
