"""The ablation studies on the main job's corpus, each from one command:

    sla ablation --study app            # APP on against off (the Phi-4 stand-in by default)
    sla ablation --study lora-rank      # LoRA rank 4, 8, 16, 32 (alpha = 2 x rank)
    sla ablation --study truncation     # eval sessions with responses taken out; models trained whole or truncated
    sla ablation --study overall-mode   # overall as its own output, or the mean of the part outputs
    sla ablation --study language       # a random decoder, SmolLM2, SmolLM2 aligned; content-only and default corpora

Every study trains `sla demo` once per variant and seed (3 seeds by default) on one shared corpus and session cache
under `--workdir`, reusing every run already finished there (the default run serves the LoRA-rank, overall-mode and
truncation studies), and writes `<study>.json`, `<study>.md` (its tables, mean ± standard deviation over the seeds,
baselines beside) and `<study>.png` into the workdir.
"""

from sla_phi4.experiments.studies import STUDIES, StudySettings


def run_ablation(settings: StudySettings) -> dict:
    """Runs one study; returns its report (also written to `<workdir>/<study>.json`)."""
    if settings.study not in STUDIES:
        raise ValueError(f"Unknown study {settings.study!r}; choose one of {', '.join(STUDIES)}.")
    return STUDIES[settings.study].run(settings)


__all__ = ["run_ablation"]
