"""Writing the whole corpus of one test format: learners shared between the splits, their sessions spoken in worker
processes (one session per task, each drawn from its own seeded generators), then the kit files and the summary."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from sla_phi4 import strict_json
from sla_phi4.data.espeak_tts import require_speech_synthesis
from sla_phi4.data.synthetic.kit import DEFAULT_SPLITS, SAMPLE_RATE, SPLIT_SHARES
from sla_phi4.data.synthetic.kit_writer import prepare_output, relative_path, write_kit_files
from sla_phi4.data.synthetic.learners import DEFAULT_CUE_PROFILE, assign_l1, draw_learner, profile_loadings
from sla_phi4.data.synthetic.plan import CorpusPlan, load_plan
from sla_phi4.data.synthetic.pools import POOLS, questions_for
from sla_phi4.data.synthetic.speaking import speak_answer
from sla_phi4.data.synthetic.summary import format_summary, summarise, voiced_fraction


def _session_worker(task: tuple) -> dict:
    import soundfile as sf  # noqa: PLC0415

    from sla_phi4.data import espeak_tts  # noqa: PLC0415

    output, seed, index, split, scale, gaps, l1, cue_strength, plan, cue_profile = task
    learner = draw_learner(seed, index, split, gaps, l1, cue_strength, plan, cue_profile)
    form = questions_for(np.random.default_rng([seed, 1, index, 2]), POOLS, plan)
    speech_rng = np.random.default_rng([seed, 1, index, 3])
    espeak_tts.reset()  # the same bytes whatever this process synthesised before
    native_rate = espeak_tts.native_sample_rate()
    responses = []
    for part_plan in plan.parts:
        part = part_plan.id
        for question in form[part]:
            if question.qid not in learner["answers"][part]:
                continue
            answer = speak_answer(learner, question, part_plan.speaking_time, scale, speech_rng, native_rate)
            file_id = f"{learner['session_id']}-{question.qid}"
            rel = relative_path(split, learner["folder"], part, file_id)
            path = os.path.join(output, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sf.write(path, answer["audio"], SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            duration = answer["audio"].size / SAMPLE_RATE
            voiced = voiced_fraction(answer["audio"])
            st = answer["stats"]
            responses.append({
                "file_id": file_id,
                "part": part,
                "question_id": question.qid,
                "path": rel,
                "question": json.dumps({"text": question.text, "speaking-time": _seconds(answer["allotted_s"]),
                                        "thinking-time": _seconds(part_plan.thinking_time)}, allow_nan=False),
                "transcript": answer["transcript"],
                "duration_s": duration,
                "voiced_fraction": voiced,
                "voiced_s": voiced * duration,
                "allotted_s": answer["allotted_s"],
                "hit_limit": answer["hit_limit"],
                **{k: v for k, v in st.items() if k != "levels"},
                "levels": list(st["levels"]),
            })
    learner = dict(learner)
    learner["responses"] = responses
    return learner


def _seconds(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 1)


def _split_sizes(n: int, splits: tuple[str, ...], split_shares: dict[str, float] | None = None) -> dict[str, int]:
    if n < len(splits):
        raise ValueError(f"need at least one session per split: {n} sessions for {len(splits)} splits")
    split_shares = split_shares or SPLIT_SHARES
    shares = np.array([split_shares.get(s, 0.15) for s in splits], dtype=float)
    shares /= shares.sum()
    sizes = np.maximum(1, np.round(shares * n)).astype(int)
    while sizes.sum() > n:
        sizes[int(np.argmax(sizes))] -= 1
    while sizes.sum() < n:
        sizes[0] += 1
    return dict(zip(splits, sizes.tolist()))


def _split_of(sessions: int, splits: tuple[str, ...], seed: int, split_shares: dict[str, float] | None = None
              ) -> dict[int, str]:
    """The split of every session: a seeded permutation of the sessions, cut at the split sizes."""
    sizes = _split_sizes(sessions, splits, split_shares)
    order = np.random.default_rng([seed, 0]).permutation(sessions)
    split_of = {}
    start = 0
    for split in splits:
        for i in order[start:start + sizes[split]]:
            split_of[int(i)] = split
        start += sizes[split]
    return split_of


def _run_sessions(tasks: list[tuple], workers: int, progress: bool, started: float, description: str) -> list[dict]:
    """Every session's learner and responses, in session order, spoken by `workers` processes."""
    results: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=len(tasks), unit="session", desc=description, file=sys.stderr)
    audio_s = 0.0
    try:
        if workers == 1:
            iterator = map(_session_worker, tasks)
            pool = None
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = multiprocessing.get_context(method).Pool(workers)
            iterator = pool.imap_unordered(_session_worker, tasks, chunksize=1)
        try:
            for result in iterator:
                results.append(result)
                audio_s += sum(r["duration_s"] for r in result["responses"])
                if bar is not None:
                    elapsed = time.perf_counter() - started
                    bar.set_postfix_str(f"{audio_s / max(elapsed, 1e-9):.0f}x real time", refresh=False)
                    bar.update(1)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    finally:
        if bar is not None:
            bar.close()
    results.sort(key=lambda s: s["index"])
    return results


def make_synthetic_corpus(
    output: str | os.PathLike,
    sessions: int = 120,
    seed: int = 0,
    duration_scale: float = 1.0,
    splits: tuple[str, ...] = DEFAULT_SPLITS,
    progress: bool = True,
    *,
    workers: int | None = None,
    gaps: bool = True,
    overwrite: bool = False,
    cue_strength: float = 1.0,
    test_format="sandi2025",
    plan: CorpusPlan | None = None,
    split_shares: dict[str, float] | None = None,
    cue_profile: str = DEFAULT_CUE_PROFILE,
) -> dict:
    """Write a synthetic corpus of a test format (Speak & Improve by default) in the kit layout under ``output``,
    with the format as ``test_format.json`` at its root; return its summary.

    sessions: learners (submissions) in all, shared 70/15/15 between train/dev/eval (at least one each).
    duration_scale: multiplies every allotted speaking time (P1 and P5 20 s, P3 and P4 60 s at 1.0), so
        answers get shorter (fewer sentences); learners, marks and the layout do not change with it.
    progress: tqdm bar and printed summary. workers: processes (default: up to 2, one per CPU).
    gaps: make sessions incomplete like the real train split (False: every part and answer present).
    overwrite: replace a corpus this function wrote before in ``output``.
    cue_strength: multiplies each cue's signal-to-noise ratio (1.0: loadings of 0.45-0.75, like real learners'
        loosely coupled skills). The demo uses more, so that a small random model can learn in minutes.
    test_format: a built-in format's name (`sandi2025`, `ielts-like`, `toefl-like`), a file, dict or TestFormat.
    plan: how its parts are spoken and marked (default: the package's plan of the format, `plan_<name>.json`).
    split_shares: each split's share of the sessions (default train 0.70, dev 0.15, eval 0.15); e.g. larger
        held-out splits to measure intervals on.
    cue_profile: which cues carry proficiency (resources/cue_profiles.json): `default` (all six) or
        `content-only` (only the words: delivery cues are the learner's own noise).
    """
    profile_loadings(cue_profile)  # an unknown profile fails before anything is written
    plan = plan or load_plan(test_format)
    if not 1 <= sessions <= 99999:
        raise ValueError("sessions must be in 1-99999 (submission IDs have five digits)")
    if not duration_scale > 0:
        raise ValueError("duration_scale must be positive")
    splits = tuple(splits)
    if len(set(splits)) != len(splits) or not splits:
        raise ValueError(f"splits must be distinct names, got {splits!r}")
    require_speech_synthesis()  # before anything is written
    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    prepare_output(root, overwrite)

    split_of = _split_of(sessions, splits, seed, split_shares)
    l1_of = assign_l1(seed, split_of, splits)
    tasks = [(str(root), seed, i, split_of[i], float(duration_scale), gaps, l1_of[i], float(cue_strength), plan,
              cue_profile) for i in range(sessions)]
    if workers is None:
        workers = max(1, min(2, os.cpu_count() or 1))
    workers = max(1, min(int(workers), sessions))
    started = time.perf_counter()
    results = _run_sessions(tasks, workers, progress, started, f"synthetic {plan.test_format.title}")
    wall = time.perf_counter() - started

    write_kit_files(root, results, splits, plan.test_format)
    summary = summarise(results, splits, seed, float(duration_scale), wall, workers, float(cue_strength), gaps, plan,
                        cue_profile)
    if split_shares is not None:
        summary["split_shares"] = dict(split_shares)
    with open(root / "synthetic-summary.json", "w", encoding="utf-8") as handle:
        strict_json.dump(summary, handle, indent=2)
    if progress:
        print(format_summary(summary))
    return summary
