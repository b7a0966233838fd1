"""The corpus summary and its checks: counts and incompleteness rates against the real kit's, how much of the mark
the audio measures explain (ridge regressions), and how the cues and the L1 relate to the latent."""

from __future__ import annotations

import numpy as np

from sla_phi4.data.synthetic.kit import REAL_KIT_RATES, SAMPLE_RATE, split_profile
from sla_phi4.data.synthetic.learners import DEFAULT_CUE_PROFILE, L1_VOICES, profile_loadings
from sla_phi4.data.synthetic.plan import REAL_KIT, SANDI_PLAN, CorpusPlan


def voiced_fraction(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, frame_s: float = 0.02,
                    relative_db: float = -20.0) -> float:
    """Share of 20 ms frames whose RMS is within ``relative_db`` of the clip's 95th-percentile frame RMS."""
    frame = max(1, int(frame_s * sample_rate))
    n = audio.size // frame
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame).astype(np.float64)), axis=1))
    ref = float(np.percentile(rms, 95))
    if ref <= 0:
        return 0.0
    return float(np.mean(rms > ref * 10.0 ** (relative_db / 20.0)))


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float):
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    xs = (x - mu) / sd
    y_mean = y.mean()
    beta = np.linalg.solve(xs.T @ xs + alpha * np.eye(x.shape[1]), xs.T @ (y - y_mean))
    return lambda new: ((new - mu) / sd) @ beta + y_mean


def ridge_r2(x: np.ndarray, y: np.ndarray, *, alpha: float = 1.0, folds: int = 5, repeats: int = 10,
             seed: int = 0) -> dict:
    """Ridge regression (numpy, standardised features) of ``y`` on the columns of ``x``.

    Returns the in-sample R² and the held-out R² of k-fold cross-validation (out-of-fold predictions
    pooled over the folds, averaged over ``repeats`` random fold assignments). Held-out is None with fewer
    than 2 * folds rows."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = {"n": int(len(y)), "alpha": alpha, "folds": folds, "repeats": repeats, "r2_in_sample": None,
           "r2_heldout": None}
    if len(y) < 3 or float(np.var(y)) == 0.0:
        return out
    ss = float(np.sum((y - y.mean()) ** 2))
    out["r2_in_sample"] = 1.0 - float(np.sum((y - _ridge_fit(x, y, alpha)(x)) ** 2)) / ss
    if len(y) >= 2 * folds:
        scores = []
        rng = np.random.default_rng(seed)
        for _ in range(max(1, repeats)):
            order = rng.permutation(len(y))
            pred = np.empty_like(y)
            for k in range(folds):
                test = order[k::folds]
                train = np.setdiff1d(order, test)
                pred[test] = _ridge_fit(x[train], y[train], alpha)(x[test])
            scores.append(1.0 - float(np.sum((y - pred) ** 2)) / ss)
        out["r2_heldout"] = float(np.mean(scores))
    return out


def _pearson(a, b) -> float | None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _session_measures(s: dict) -> dict:
    rs = s["responses"]
    if not rs:
        return {}
    total = sum(r["duration_s"] for r in rs)
    words = sum(r["words"] for r in rs)
    letters = sum(r["letters"] for r in rs)
    speech = sum(r["speech_s"] for r in rs)
    levels = [lv for r in rs for lv in r["levels"]]
    return {
        "letters_per_speech_s": letters / speech if speech > 0 else float("nan"),
        "pause_s_per_sentence": sum(r["pause_s"] for r in rs) / max(1, len(levels)),
        "fillers_per_100_words": 100.0 * sum(r["fillers"] for r in rs) / max(1, words),
        "disfluencies_per_100_words": 100.0 * sum(r["disfluencies"] for r in rs) / max(1, words),
        "fill_ratio": float(np.mean([r["duration_s"] / r["allotted_s"] for r in rs])),
        "mean_sentence_level": float(np.mean(levels)) if levels else float("nan"),
        "voiced_fraction": sum(r["voiced_s"] for r in rs) / total if total > 0 else float("nan"),
    }


def _split_counts(rows: list[dict], plan: CorpusPlan) -> dict:
    """Sessions, responses, audio and incompleteness of one split."""
    parts = plan.part_ids
    n = max(1, len(rows))
    missing = {p: sum(1 for s in rows if p in s["released"] and len(s["answers"][p]) < len(plan.part(p).questions))
               for p in parts}
    having = {p: max(1, sum(1 for s in rows if p in s["released"])) for p in parts}
    complete = sum(1 for s in rows if len(s["released"]) == len(parts))
    counts = {
        "sessions": len(rows),
        "responses": sum(len(s["responses"]) for s in rows),
        "responses_per_part": {p: sum(1 for s in rows for r in s["responses"] if r["part"] == p) for p in parts},
        "audio_hours": sum(r["duration_s"] for s in rows for r in s["responses"]) / 3600.0,
        "sessions_with_all_parts": complete,
        "sessions_with_overall_mark": sum(1 for s in rows if s["overall_released"]),
        "sessions_missing_parts": len(rows) - complete,
        "overall_mark_without_all_parts": sum(1 for s in rows if s["overall_released"]
                                              and len(s["released"]) < len(parts)),
        "sessions_missing_answers": missing,
        "missing_answers": sum(len(plan.part(p).questions) - len(s["answers"][p]) for s in rows for p in s["released"]),
        "rates": {"all_parts": complete / n, "overall_mark": sum(1 for s in rows if s["overall_released"]) / n,
                  **{f"{p.lower()}_sessions_missing_answers": missing[p] / having[p] for p in parts}},
        "hit_time_limit": sum(1 for s in rows for r in s["responses"] if r["hit_limit"]),
    }
    return counts


def summarise(sessions: list[dict], splits, seed: int, scale: float, wall: float, workers: int,
              cue_strength: float = 1.0, gaps: bool = True, plan: CorpusPlan = SANDI_PLAN,
              cue_profile: str = DEFAULT_CUE_PROFILE) -> dict:
    parts = plan.part_ids
    summary: dict = {"seed": seed, "sessions": len(sessions), "duration_scale": scale, "cue_strength": cue_strength,
                     "cue_profile": cue_profile, "gaps": gaps, "test_format": plan.test_format.name, "splits": {}}
    all_audio = 0.0
    for split in splits:
        rows = [s for s in sessions if s["split"] == split]
        summary["splits"][split] = _split_counts(rows, plan)
        all_audio += summary["splits"][split]["audio_hours"] * 3600.0
        if plan.gaps == REAL_KIT:
            summary["splits"][split]["real_kit_rates"] = REAL_KIT_RATES[split_profile(split)]
    summary["responses"] = sum(len(s["responses"]) for s in sessions)
    summary["audio_hours"] = all_audio / 3600.0

    # Two-feature check: overall mark (the part mean without one) from answer durations and voiced fraction alone.
    full = [s for s in sessions if (s["overall_released"] or plan.test_format.overall is None)
            and len(s["released"]) == len(parts)]
    feats, target = [], []
    for s in full:
        row = [float(np.mean([r["duration_s"] for r in s["responses"] if r["part"] == p])) for p in parts]
        row.append(_session_measures(s)["voiced_fraction"])
        feats.append(row)
        target.append(s["marks"].get("overall", float(np.mean([s["marks"][p] for p in parts]))))
    ridge = ridge_r2(np.array(feats).reshape(len(feats), len(parts) + 1), np.array(target), seed=seed)
    ridge["features"] = [f"mean_duration_{p}" for p in parts] + ["voiced_fraction"]
    ridge["sessions"] = ("sessions with an overall mark and all four parts; held-out = 5-fold cross-validation "
                         "averaged over 10 fold assignments")
    summary["ridge_duration_voiced"] = ridge

    # Every measured cue together (what a model could learn from audio and words).
    measure_names = list(_session_measures(full[0]).keys()) if full else []
    if full:
        x = np.array([[_session_measures(s)[m] for m in measure_names] + [
            float(np.mean([r["duration_s"] for r in s["responses"] if r["part"] == p])) for p in parts] for s in full])
        col_mean = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
        x = np.where(np.isfinite(x), x, np.nan_to_num(col_mean)[None, :])
        summary["ridge_all_cues"] = {**ridge_r2(x, np.array(target), seed=seed),
                                     "features": measure_names + [f"mean_duration_{p}" for p in parts]}
        summary["ridge_words_level_only"] = ridge_r2(
            x[:, [measure_names.index("mean_sentence_level")]], np.array(target), seed=seed)

    z = [s["z"] for s in sessions]
    summary["cue_correlations_with_latent"] = {
        "loadings": dict(profile_loadings(cue_profile)),
        "parameters": {name: _pearson([s["params"][name] for s in sessions], z)
                       for name in ("rate_wpm", "pause_scale", "filler_prob", "disfluency_rate", "fill_target",
                                    "lexical_level")},
        "measured": {},
        "sessions": len(sessions),
    }
    measured = [(_session_measures(s), s["z"]) for s in sessions if s["responses"]]
    for name in (measure_names or ["voiced_fraction"]):
        summary["cue_correlations_with_latent"]["measured"][name] = _pearson(
            [m.get(name, float("nan")) for m, _ in measured], [v for _, v in measured])
    summary["cue_correlations_with_latent"]["l1_vs_latent_eta2"] = _eta_squared(
        [s["l1"] for s in sessions], z)
    summary["l1_groups"] = {
        l1: {"sessions": sum(1 for s in sessions if s["l1"] == l1),
             "mean_latent_z": _mean([s["z"] for s in sessions if s["l1"] == l1]),
             "mean_true_overall": _mean([s["marks"]["overall"] for s in sessions if s["l1"] == l1
                                         and "overall" in s["marks"]])}
        for l1 in L1_VOICES
    }
    audio_s = all_audio
    summary["timing"] = {
        "wall_s": wall, "workers": workers,
        "sessions_per_s": len(sessions) / wall if wall > 0 else None,
        "audio_s_per_wall_s": audio_s / wall if wall > 0 else None,
    }
    return summary


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _eta_squared(groups, values) -> float | None:
    """Share of the variance of ``values`` explained by the group labels (0 when L1 says nothing)."""
    v = np.asarray(values, dtype=float)
    if v.size < 3 or v.var() == 0:
        return None
    total = float(np.sum((v - v.mean()) ** 2))
    between = 0.0
    for g in sorted(set(groups)):  # sorted: a set's order follows string hashing, which changed the last bit
        member = v[[i for i, x in enumerate(groups) if x == g]]
        between += member.size * float((member.mean() - v.mean()) ** 2)
    return between / total


def format_summary(summary: dict) -> str:
    def f(x, spec=".3f"):
        return "n/a" if x is None else format(x, spec)

    lines = [f"synthetic {summary.get('test_format', 'sandi2025')} corpus: {summary['sessions']} sessions, "
             f"{summary['responses']} responses, {summary['audio_hours']:.2f} h audio (duration scale "
             f"{summary['duration_scale']:g}, seed {summary['seed']})"]
    for split, s in summary["splits"].items():
        r, real = s["rates"], s.get("real_kit_rates")
        missing = ", ".join(f"{key.split('_')[0].upper()} {value:.2f}" + (f" (real {real[key]:.2f})" if real and key
                                                                          in real else "")
                            for key, value in r.items() if key.endswith("_sessions_missing_answers") and
                            (value or real))
        lines.append(
            f"  {split:5s}: {s['sessions']} sessions, {s['responses']} responses, {s['audio_hours']:.2f} h; "
            f"all parts {r['all_parts']:.2f}" + (f" (real {real['all_four_parts']:.2f})" if real else "")
            + f", overall mark {r['overall_mark']:.2f}" + (f" (real {real['overall_mark']:.2f})" if real else "")
            + (f", missing answers {missing}" if missing else ""))
    rd = summary["ridge_duration_voiced"]
    lines.append(f"  ridge of overall on answer durations + voiced fraction ({rd['n']} sessions): R² held-out "
                 f"(5-fold CV) {f(rd['r2_heldout'])}, in-sample {f(rd['r2_in_sample'])}")
    if "ridge_all_cues" in summary:
        ra, rw = summary["ridge_all_cues"], summary["ridge_words_level_only"]
        lines.append(f"  ridge on all measured cues: R² held-out {f(ra['r2_heldout'])}; sentence level alone "
                     f"{f(rw['r2_heldout'])}")
    cc = summary["cue_correlations_with_latent"]
    lines.append("  correlation with the latent, cue parameters: " + ", ".join(
        f"{k} {f(v, '+.2f')}" for k, v in cc["parameters"].items()))
    lines.append("  correlation with the latent, measured: " + ", ".join(
        f"{k} {f(v, '+.2f')}" for k, v in cc["measured"].items()))
    lines.append(f"  L1 vs latent eta²: {f(cc['l1_vs_latent_eta2'])}")
    t = summary["timing"]
    lines.append(f"  speed: {f(t['sessions_per_s'], '.2f')} sessions/s, {f(t['audio_s_per_wall_s'], '.0f')} audio s "
                 f"per wall s ({t['wall_s']:.1f} s, {t['workers']} workers)")
    return "\n".join(lines)
