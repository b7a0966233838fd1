"""The learner model: a latent proficiency, the part marks drawn from it, six cues that carry it into the speech,
the L1 voice (balanced against the latent) and the incompleteness of a session, at the real kit's rates."""

from __future__ import annotations

import math

import numpy as np

from sla_phi4.data.synthetic.kit import (
    ID_PREFIX,
    PART_OFFSET,
    PARTS,
    QUESTION_IDS,
    REAL_ANSWER_COUNTS,
    REAL_FOLDERS,
    REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS,
    REAL_TRAIN_PART_PATTERNS,
    read_json,
    resource,
    split_profile,
)


# espeak voices of other languages reading the English text, and their variants (resources/voices.json).
_VOICES = read_json(resource("voices.json"))
L1_VOICES = tuple(_VOICES["l1_voices"])
VOICE_VARIANTS = tuple(_VOICES["voice_variants"])

LATENT_MEAN, LATENT_SD = 3.95, 0.58
PART_NOISE_SD = 0.38  # real part marks correlate about 0.63-0.73 with each other
MARK_MIN, MARK_MAX = 2.0, 5.5
# Loading of each cue on the latent; the rest of each cue is the learner's own noise.
CUE_LOADINGS = {"rate": 0.5, "pause": 0.5, "filler": 0.45, "disfluency": 0.45, "length": 0.45, "lexical": 0.75}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _half_band(x: float) -> float:
    return float(min(MARK_MAX, max(MARK_MIN, round(x * 2.0) / 2.0)))


def _draw_counts(rng: np.random.Generator, table: dict) -> object:
    keys = list(table)
    weights = np.array([table[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _trait_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, index, 0])


def latent(seed: int, index: int) -> float:
    return float(_trait_rng(seed, index).standard_normal())  # the first draw of the trait generator


def assign_l1(seed: int, split_of: dict[int, str], splits: tuple[str, ...]) -> dict[int, str]:
    """L1 voice per session, drawn apart from the latent but balanced against it.

    Within each split, sessions sorted by latent go in blocks of len(L1_VOICES); each block gets a random
    permutation of the voices. Every voice is equally likely at every latent, and the L1 groups have the
    same latent distribution up to one block, so score differences between L1 groups measure the accent's
    effect rather than sampling luck.
    """
    out: dict[int, str] = {}
    for k, split in enumerate(splits):
        members = sorted((i for i, s in split_of.items() if s == split), key=lambda i: (latent(seed, i), i))
        rng = np.random.default_rng([seed, 2, k])
        n = len(L1_VOICES)
        for start in range(0, len(members), n):
            block = members[start:start + n]
            voices = rng.permutation(n)[: len(block)]
            for i, v in zip(block, voices):
                out[i] = L1_VOICES[int(v)]
    return out


def cue_loadings(cue_strength: float = 1.0) -> dict[str, float]:
    """Each cue's loading on the latent. `cue_strength` scales how much of a cue's variance the latent explains
    (its signal-to-noise ratio); loadings are capped at 0.95 so that no cue is the latent itself."""
    if cue_strength <= 0:
        raise ValueError("cue_strength must be positive")
    loadings = {}
    for name, rho in CUE_LOADINGS.items():
        ratio = cue_strength * rho * rho / (1.0 - rho * rho)
        loadings[name] = min(0.95, math.sqrt(ratio / (1.0 + ratio)))
    return loadings


def _released(structure: np.random.Generator, split: str, gaps: bool) -> tuple[tuple[str, ...], bool]:
    """The parts released for a session and whether its overall mark is, like the real split it copies."""
    if not (gaps and split_profile(split) == "train"):
        return PARTS, True
    released = tuple(_draw_counts(structure, REAL_TRAIN_PART_PATTERNS))
    if len(released) == 4:
        return released, True
    k, n = REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS
    return released, bool(structure.random() < k / n)


def _answers(structure: np.random.Generator, split: str, gaps: bool, released) -> dict[str, tuple[str, ...]]:
    """The question IDs answered per part: none for a part not released, some missing inside P1 and P5."""
    answers: dict[str, tuple[str, ...]] = {}
    for part in PARTS:
        qids = QUESTION_IDS[part]
        if part not in released:
            answers[part] = ()
            continue
        count = len(qids)
        if gaps and part in ("P1", "P5"):
            count = int(_draw_counts(structure, REAL_ANSWER_COUNTS[split_profile(split)][part]))
        keep = sorted(structure.permutation(len(qids))[:count].tolist())
        answers[part] = tuple(qids[i] for i in keep)
    return answers


def draw_learner(seed: int, index: int, split: str, gaps: bool, l1: str | None = None,
                 cue_strength: float = 1.0) -> dict:
    """Everything about a learner that does not depend on the duration scale."""
    trait = _trait_rng(seed, index)
    structure = np.random.default_rng([seed, 1, index, 1])
    z = float(trait.standard_normal())
    cue_z = {}
    for name, rho in cue_loadings(cue_strength).items():
        cue_z[name] = rho * z + math.sqrt(1.0 - rho * rho) * float(trait.standard_normal())
    drawn = L1_VOICES[int(trait.integers(len(L1_VOICES)))]
    l1 = l1 if l1 is not None else drawn
    variant = VOICE_VARIANTS[int(trait.integers(len(VOICE_VARIANTS)))]
    pitch = int(trait.integers(35, 66))
    noise_dbfs = float(trait.uniform(-62.0, -48.0))
    peak = float(trait.uniform(0.35, 0.9))
    theta = LATENT_MEAN + LATENT_SD * z
    marks = {p: _half_band(theta + PART_OFFSET[p] + PART_NOISE_SD * float(trait.standard_normal())) for p in PARTS}
    marks["overall"] = sum(marks[p] for p in PARTS) / 4.0
    params = {
        "rate_wpm": float(np.clip(145.0 + 22.0 * cue_z["rate"], 95.0, 210.0)),
        "pause_scale": float(math.exp(-0.42 * cue_z["pause"])),
        "filler_prob": _sigmoid(-1.1 - 0.85 * cue_z["filler"]),
        "disfluency_rate": float(math.exp(-1.0 - 0.7 * cue_z["disfluency"])),
        "fill_target": float(np.clip(_sigmoid(1.0 + 0.9 * cue_z["length"]), 0.2, 1.0)),
        "lexical_level": 1.6 + 0.75 * cue_z["lexical"],
    }
    released, overall_released = _released(structure, split, gaps)
    answers = _answers(structure, split, gaps, released)
    folder = str(_draw_counts(structure, REAL_FOLDERS[split_profile(split)]))
    return {
        "index": index,
        "session_id": f"{ID_PREFIX}-{index + 1:05d}",
        "split": split,
        "folder": folder,
        "l1": l1,
        "variant": variant,
        "voice": f"{l1}+{variant}",
        "pitch": pitch,
        "noise_dbfs": noise_dbfs,
        "peak": peak,
        "z": z,
        "theta": theta,
        "cue_z": cue_z,
        "params": params,
        "marks": marks,
        "released": tuple(p for p in PARTS if p in released),
        "overall_released": overall_released,
        "answers": answers,
    }
