"""The `uncertainty` section of a score report, the referrals file and the plot, for a calibrated checkpoint."""

import os

import numpy as np

from modeling_sla.uncertainty_sla import referral
from sla_phi4.evaluation.uncertainty import (
    Evidence,
    apply_intervals,
    coverage_table,
    difficulties,
    referral_gain,
    rejection_curve,
)


REFERRALS_FILE = "{split}-referrals.tsv"


def session_referrals(calibration: dict, warnings: list[list[dict]], hardness: np.ndarray
                      ) -> list[tuple[bool, list[str]]]:
    """Each session's referral and its reasons, by the pipeline's own rule (`uncertainty_sla.referral`)."""
    out = []
    for row, session_warnings in enumerate(warnings):
        flags = [warning for warning in session_warnings if warning["response_id"] is not None]
        out.append(referral(None if np.isnan(hardness[row]) else float(hardness[row]), flags, calibration))
    return out


def write_referrals(path: str, evidence: Evidence, referrals: list[tuple[bool, list[str]]]) -> None:
    """`submissionID<TAB>refer (0/1)<TAB>reasons` (reasons joined by ' | '), one line per session."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("submission_id\trefer_to_examiner\treasons\n")
        for session_id, (refer, reasons) in zip(evidence.session_ids, referrals):
            handle.write(f"{session_id}\t{int(refer)}\t{' | '.join(reasons)}\n")


def uncertainty_report(calibration: dict, evidence: Evidence, warnings: list[list[dict]], test_format,
                       band_values: list[float], output_dir: str, split: str) -> dict:
    """Coverage and width per target, referral counts, the rejection curve and PRR on overall (where the split has
    marks), and the plot; writes the referrals file."""
    names = test_format.score_names
    lows, highs = apply_intervals(calibration, evidence, test_format, band_values)
    hardness = difficulties(calibration, evidence, test_format, band_values)
    referrals = session_referrals(calibration, warnings, hardness)
    write_referrals(os.path.join(output_dir, REFERRALS_FILE.format(split=split)), evidence, referrals)
    referred = np.array([refer for refer, _ in referrals])
    uncertain = np.array([any(reason.startswith("uncertain") for reason in reasons) for _, reasons in referrals])
    section = {
        "method": calibration["method"], "coverage_target": calibration["coverage"],
        "calibrated_on": calibration.get("calibrated_on"), "calibration_sessions": calibration["sessions"],
        "referrals": {"sessions": int(referred.sum()), "share": float(referred.mean()) if len(referred) else 0.0,
                      "uncertain": int(uncertain.sum()), "cannot_be_assessed": int(evidence.flagged.sum()),
                      "file": REFERRALS_FILE.format(split=split)},
    }
    if np.isfinite(evidence.references).any():
        section["targets"] = coverage_table(lows, highs, evidence.references, names, calibration["coverage"])
        section["miscalibrated_targets"] = [name for name, values in section["targets"].items()
                                            if not values["calibrated"]]
    judged = judged_target(names)
    column = names.index(judged)
    present = np.isfinite(evidence.references[:, column]) & np.isfinite(evidence.predictions[:, column])
    if present.sum() >= 10:
        errors = (evidence.predictions - evidence.references)[present, column]
        curve = rejection_curve(hardness[present], errors)
        section["rejection"] = {"target": judged, **curve,
                                "rmse_reduction_at_referral_share": referral_gain(curve,
                                                                                  calibration["referral"]["share"])}
    section["plot"] = plot_uncertainty(section, output_dir, split)
    return section


def judged_target(names: list[str]) -> str:
    """The target the rejection curve is drawn on: overall, else the first part."""
    return "overall" if "overall" in names else names[0]


def plot_uncertainty(section: dict, output_dir: str, split: str) -> str | None:
    """Coverage per target (with 95 % intervals, against the target) and the rejection curve."""
    if "targets" not in section and "rejection" not in section:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    targets = section.get("targets", {})
    names = list(targets)
    coverage = [targets[name]["coverage"] for name in names]
    errors = np.array([[value - targets[name]["coverage_95ci"][0], targets[name]["coverage_95ci"][1] - value]
                       for name, value in zip(names, coverage)]).T.reshape(2, len(names))
    left.bar(names, coverage, yerr=errors, capsize=3, color="tab:blue")
    left.axhline(section["coverage_target"], color="grey", linestyle="--", label="target")
    left.set(ylim=(0.5, 1.0), ylabel="coverage", title=f"{section['method']} intervals ({split})")
    left.legend(fontsize=8)
    rejection = section.get("rejection")
    if rejection:
        shares = 100 * np.array(rejection["shares"])
        for name, style in (("model", "-"), ("random", "--"), ("oracle", ":")):
            right.plot(shares, rejection[name], style, label=name)
        right.set(xlabel="sessions referred (%)", ylabel=f"RMSE of the kept ({rejection['target']})",
                  title=f"Rejection curve, PRR {rejection['prr']:.2f}")
        right.legend(fontsize=8)
    figure.tight_layout()
    path = os.path.join(output_dir, f"{split}-uncertainty.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return os.path.basename(path)


def format_uncertainty(report: dict) -> str:
    """A few lines on the intervals and referrals of a report ('' without its uncertainty section)."""
    section = report.get("uncertainty")
    if not section:
        return ""
    lines = [f"Intervals ({section['method']}, {section['coverage_target']:.0%} target, calibrated on "
             f"{section['calibrated_on']}): " + ", ".join(
                 f"{name} coverage {values['coverage']:.3f} (95% CI {values['coverage_95ci'][0]:.3f}-"
                 f"{values['coverage_95ci'][1]:.3f}), width {values['mean_width']:.2f}"
                 for name, values in section.get("targets", {}).items())]
    if section.get("miscalibrated_targets"):
        lines.append(f"WARNING: the {section['coverage_target']:.0%} target lies outside the coverage's 95% interval "
                     f"for {', '.join(section['miscalibrated_targets'])}: recalibrate (sla calibrate) on data like "
                     f"this.")
    referrals = section["referrals"]
    lines.append(f"Referred to an examiner: {referrals['sessions']} sessions ({referrals['share']:.1%}; "
                 f"{referrals['uncertain']} uncertain, {referrals['cannot_be_assessed']} with a response that cannot "
                 f"be assessed), listed in {referrals['file']}")
    rejection = section.get("rejection")
    if rejection:
        lines.append(f"Rejection curve on {rejection['target']}: PRR {rejection['prr']:.2f}; the kept sessions' RMSE "
                     f"{rejection['rmse_reduction_at_referral_share']:.1%} lower when the least certain are referred")
    return "\n".join(lines)


__all__ = ["REFERRALS_FILE", "format_uncertainty", "uncertainty_report", "write_referrals"]
