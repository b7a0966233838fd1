"""`sla calibrate`: fits a checkpoint's intervals and referral on a held-out split and saves them in its config.

    sla calibrate --checkpoint runs/sla --corpus_root corpus --split dev [--coverage 0.9] [--refer 0.1] \\
        [--method auto|split|normalized|mondrian] [--cache_dir runs/cache]

The calibration goes into the checkpoint's `config.json` (`uncertainty`), so the model gives the same intervals
wherever it is loaded, through the pipeline too. The checkpoint is saved again whole, with this package's remote code
(the code that reads the calibration travels with it); `calibration_report.json` beside it keeps what `auto`
measured.
"""

import os

from modeling_sla import SLAForSessionScoring
from modeling_sla.pipeline_sla import save_pretrained_with_pipeline
from processing_sla import SLAProcessor
from sla_phi4 import strict_json
from sla_phi4.evaluation.predictions import gather_evidence, load_split
from sla_phi4.evaluation.uncertainty import METHODS, fit_intervals, select_method


REPORT_FILE = "calibration_report.json"


def calibrate_intervals(checkpoint: str, corpus_root: str, split: str = "dev", *, coverage: float = 0.9,
                        refer_share: float = 0.1, method: str = "auto", cache_dir: str | None = None,
                        on_missing: str = "error", seed: int = 0) -> dict:
    """Fits the calibration on `split` and writes it into `checkpoint/config.json`; returns it."""
    if method not in (*METHODS, "auto"):
        raise ValueError(f"--method must be auto or one of {', '.join(METHODS)}, got {method!r}.")
    model = SLAForSessionScoring.from_pretrained(checkpoint)
    processor = SLAProcessor.from_pretrained(checkpoint)
    test_format = model.config.get_test_format()
    rows, cache = load_split(model, processor, corpus_root, split, on_missing, cache_dir)
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
    with open(os.path.join(checkpoint, REPORT_FILE), "w", encoding="utf-8") as handle:
        strict_json.dump(report, handle, indent=2)
    print(f"Calibrated {checkpoint} on {len(rows)} {split} sessions: {method} intervals at {coverage:.0%}"
          + (f" (cross-fitted: {format_measured(measured)})" if measured else "")
          + f"; refers the least certain {refer_share:.0%}.", flush=True)
    return calibration


def format_measured(measured: dict) -> str:
    return "; ".join(f"{method} coverage {values['coverage']:.3f}, mean width {values['mean_width']:.3f}"
                     for method, values in measured.items())


__all__ = ["REPORT_FILE", "calibrate_intervals"]
