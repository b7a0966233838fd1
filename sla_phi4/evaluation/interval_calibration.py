"""`sla calibrate`: fits a checkpoint's intervals and referral on a held-out split and saves them in its config.

    sla calibrate --checkpoint runs/sla --corpus_root corpus --split dev [--coverage 0.9] [--refer 0.1] \\
        [--method auto|split|normalized|mondrian] [--cache_dir runs/cache]

The calibration goes into the checkpoint's `config.json` (`uncertainty`), so the model gives the same intervals
wherever it is loaded, through the pipeline too. The checkpoint is saved again whole, with this package's remote code
(the code that reads the calibration travels with it); `calibration_report.json` beside it keeps what `auto`
measured.
"""

import os

import numpy as np
import torch

from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor
from sla_phi4 import strict_json
from sla_phi4.evaluation.loading import load_scoring_model
from sla_phi4.evaluation.predictions import gather_evidence, load_split, marks
from sla_phi4.evaluation.uncertainty import METHODS, MIN_SESSIONS, fit_intervals, select_method
from sla_phi4.training.session_cache import SessionCache


REPORT_FILE = "calibration_report.json"


def calibrate_intervals(checkpoint: str, corpus_root: str, split: str = "dev", *, coverage: float = 0.9,
                        refer_share: float = 0.1, method: str = "auto", cache_dir: str | None = None,
                        on_missing: str = "error", seed: int = 0) -> dict:
    """Fits the calibration on `split` and writes it into `checkpoint/config.json`; returns it."""
    if method not in (*METHODS, "auto"):
        raise ValueError(f"--method must be auto or one of {', '.join(METHODS)}, got {method!r}.")
    # As saved (it is saved again whole), on the GPU when there is one.
    model = load_scoring_model(checkpoint, "cuda" if torch.cuda.is_available() else "cpu")
    processor = SLAProcessor.from_pretrained(checkpoint)
    test_format = model.config.get_test_format()
    rows, _ = load_split(model, processor, corpus_root, split, on_missing)
    check_marked_sessions(rows, test_format.score_names, split, method)  # before any session is scored
    cache = None
    if cache_dir is not None:
        cache = SessionCache(model, processor, folder=cache_dir)
        cache.add(rows, "Encoding sessions (frozen encoders)")
    evidence, _ = gather_evidence(model, processor, rows, cache=cache)
    measured = None
    if method == "auto":
        method, measured = select_method(evidence, test_format, model.config.band_values, coverage, seed)
    calibration = fit_intervals(evidence, test_format, model.config.band_values, method, coverage, refer_share, seed)
    calibration["calibrated_on"] = split
    model.config.uncertainty = calibration
    save_pretrained_with_pipeline(model, processor, checkpoint)
    report = {"split": split, "sessions": len(rows), "chosen": method, "cross_fitted": measured,
              "calibration": calibration}
    report_path = os.path.join(checkpoint, REPORT_FILE)
    with open(report_path, "w", encoding="utf-8") as handle:
        strict_json.dump(report, handle, indent=2)
    for note in calibration_notes(calibration, split):
        print(f"note: {note}", flush=True)
    print(f"Calibrated {checkpoint} on {len(rows)} {split} sessions: {method} intervals at {coverage:.0%}"
          + (f" (cross-fitted: {format_measured(measured)})" if measured else "")
          + f"; refers the least certain {refer_share:.0%}. Wrote {os.path.join(checkpoint, 'config.json')} "
          f"(uncertainty) and {report_path}.", flush=True)
    return calibration


def required_sessions(method: str) -> int:
    """Marked sessions a target needs: `MIN_SESSIONS`, twice that for `auto` (it fits on halves of the split)."""
    return 2 * MIN_SESSIONS if method == "auto" else MIN_SESSIONS


def check_marked_sessions(rows: list[dict], names: list[str], split: str, method: str) -> None:
    """Raises, naming the split's own counts, when a target has too few marked sessions to calibrate."""
    counts = dict(zip(names, (~np.isnan(marks(rows, names))).sum(axis=0).tolist()))
    short = {name: count for name, count in counts.items() if count < required_sessions(method)}
    if short:
        listed = ", ".join(f"{name} {count}" for name, count in short.items())
        raise ValueError(
            f"split {split!r} has {len(rows)} sessions; marked sessions per target: {listed}. --method {method} needs "
            f"at least {required_sessions(method)} for every target"
            + (f" (it measures the methods on halves of the split; a fixed --method needs {MIN_SESSIONS})"
               if method == "auto" else "") + ". Calibrate on a larger split."
        )


def calibration_notes(calibration: dict, split: str) -> list[str]:
    """One line for the targets whose conformal quantile crepes capped, one for difficulty fits that were not
    plain least squares."""
    targets = calibration["targets"]
    notes = []
    capped = [name for name, target in targets.items() if target.get("quantile_capped")]
    if capped:
        notes.append(f"{', '.join(capped)}: {split} has too few sessions for a {calibration['coverage']:.0%} "
                     "conformal quantile; the largest calibration error is used (coverage may fall short)")
    refitted = {name: target["difficulty_fit"] for name, target in targets.items()
                if target["difficulty_fit"] != "least squares"}
    if refitted:
        notes.append("the least-squares difficulty model was degenerate, so "
                     + "; ".join(f"{name} uses {fit}" for name, fit in refitted.items()))
    return notes


def format_measured(measured: dict) -> str:
    return "; ".join(f"{method} coverage {values['coverage']:.3f}, mean width {values['mean_width']:.3f}"
                     for method, values in measured.items())


__all__ = ["REPORT_FILE", "calibrate_intervals", "calibration_notes", "check_marked_sessions", "format_measured",
           "required_sessions"]
