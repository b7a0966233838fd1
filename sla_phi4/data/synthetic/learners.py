"""The learner model: a latent proficiency, the part marks drawn from it on the test format's scale, six cues that
carry it into the speech, the L1 voice (balanced against the latent) and the incompleteness of a session (for S&I at
the real kit's rates)."""

from __future__ import annotations

import math

import numpy as np

from sla_phi4.data.synthetic.kit import (
    ID_PREFIX,
    REAL_ANSWER_COUNTS,
    REAL_FOLDERS,
    REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS,
    REAL_TRAIN_PART_PATTERNS,
    read_json,
    resource,
    split_profile,
)
from sla_phi4.data.synthetic.plan import REAL_KIT, SANDI_PLAN, CorpusPlan


# espeak voices of other languages reading the English text, and their variants (resources/voices.json).
_VOICES = read_json(resource("voices.json"))
L1_VOICES = tuple(_VOICES["l1_voices"])
VOICE_VARIANTS = tuple(_VOICES["voice_variants"])

# Loading of each cue on the latent, per named profile (resources/cue_profiles.json); the rest of each cue is the
# learner's own noise.
CUE_PROFILES = {name: values for name, values in read_json(resource("cue_profiles.json")).items()
                if not name.startswith("_")}
DEFAULT_CUE_PROFILE = "default"
CUE_LOADINGS = CUE_PROFILES[DEFAULT_CUE_PROFILE]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _nearest_mark(x: float, scale) -> float:
    """`x` rounded to the scale's bands (Python's round: half to even) and clipped to it; on S&I, the half band."""
    if float(scale.min / scale.step).is_integer():
        mark = round(x / scale.step) * scale.step
    else:
        mark = scale.min + round((x - scale.min) / scale.step) * scale.step
    return float(min(scale.max, max(scale.min, mark)))


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


def profile_loadings(cue_profile: str = DEFAULT_CUE_PROFILE) -> dict[str, float]:
    """The loadings of a named cue profile (resources/cue_profiles.json)."""
    if cue_profile not in CUE_PROFILES:
        raise ValueError(f"Unknown cue profile {cue_profile!r}; {resource('cue_profiles.json')} has "
                         f"{sorted(CUE_PROFILES)}.")
    loadings = CUE_PROFILES[cue_profile]
    if sorted(loadings) != sorted(CUE_LOADINGS):
        raise ValueError(f"{resource('cue_profiles.json')}: profile {cue_profile!r} gives cues {sorted(loadings)}, "
                         f"not {sorted(CUE_LOADINGS)}.")
    return loadings


def cue_loadings(cue_strength: float = 1.0, cue_profile: str = DEFAULT_CUE_PROFILE) -> dict[str, float]:
    """Each cue's loading on the latent. `cue_strength` scales how much of a cue's variance the latent explains
    (its signal-to-noise ratio); loadings are capped at 0.95 so that no cue is the latent itself. A cue the profile
    loads with 0 is the learner's own noise."""
    if cue_strength <= 0:
        raise ValueError("cue_strength must be positive")
    loadings = {}
    for name, rho in profile_loadings(cue_profile).items():
        ratio = cue_strength * rho * rho / (1.0 - rho * rho)
        loadings[name] = min(0.95, math.sqrt(ratio / (1.0 + ratio)))
    return loadings


def _released(structure: np.random.Generator, split: str, gaps: bool, plan: CorpusPlan
              ) -> tuple[tuple[str, ...], bool]:
    """The parts released for a session and whether its overall mark is: like the real split it copies (S&I), or
    each train part missing with the plan's probability (never all of them)."""
    parts = tuple(plan.part_ids)
    if not (gaps and split_profile(split) == "train"):
        return parts, True
    if plan.gaps == REAL_KIT:
        released = tuple(_draw_counts(structure, REAL_TRAIN_PART_PATTERNS))
        if len(released) == 4:
            return released, True
        k, n = REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS
        return released, bool(structure.random() < k / n)
    kept = structure.random(len(parts)) >= plan.gaps.part_missing
    if not kept.any():
        kept[int(structure.integers(len(parts)))] = True
    released = tuple(part for part, keep in zip(parts, kept) if keep)
    if len(released) == len(parts):
        return released, True
    return released, bool(structure.random() < plan.gaps.overall_without_all_parts)


def _answer_count(structure: np.random.Generator, split: str, gaps: bool, plan: CorpusPlan, part: str) -> int:
    """How many of a released part's questions are answered."""
    questions = len(plan.part(part).questions)
    if not gaps:
        return questions
    if plan.gaps == REAL_KIT:
        if part not in ("P1", "P5"):
            return questions
        return int(_draw_counts(structure, REAL_ANSWER_COUNTS[split_profile(split)][part]))
    minimum = plan.test_format.part(part).min_responses
    answered = int((structure.random(questions) >= plan.gaps.answer_missing).sum())
    return max(minimum, answered)


def _answers(structure: np.random.Generator, split: str, gaps: bool, released, plan: CorpusPlan
             ) -> dict[str, tuple[str, ...]]:
    """The question IDs answered per part: none for a part not released, some missing inside others."""
    answers: dict[str, tuple[str, ...]] = {}
    for part in plan.part_ids:
        qids = plan.part(part).questions
        if part not in released:
            answers[part] = ()
            continue
        count = _answer_count(structure, split, gaps, plan, part)
        keep = sorted(structure.permutation(len(qids))[:count].tolist())
        answers[part] = tuple(qids[i] for i in keep)
    return answers


def draw_marks(trait: np.random.Generator, z: float, plan: CorpusPlan) -> tuple[float, dict[str, float]]:
    """The learner's proficiency on the format's part scale, and its marks: each part the proficiency plus the
    part's offset and its own noise, at the nearest band; overall by the format's rule (`own_mark`: the raters' own
    mark, the proficiency plus its own noise)."""
    test_format = plan.test_format
    theta = plan.latent_mean + plan.latent_sd * z
    marks = {p: _nearest_mark(theta + plan.part_offset[p] + plan.part_noise_sd * float(trait.standard_normal()),
                              test_format.scale) for p in plan.part_ids}
    if test_format.overall is None:
        return theta, marks
    if test_format.overall.rule == "own_mark":
        raw = theta + plan.part_noise_sd * float(trait.standard_normal())
        affine = test_format.output_affine("overall")
        raw = raw if affine is None else affine[0] * raw + affine[1]
        marks["overall"] = _nearest_mark(raw, test_format.target_scale("overall"))
    else:
        marks["overall"] = test_format.overall_from_parts(marks)
    return theta, marks


def draw_learner(seed: int, index: int, split: str, gaps: bool, l1: str | None = None,
                 cue_strength: float = 1.0, plan: CorpusPlan = SANDI_PLAN,
                 cue_profile: str = DEFAULT_CUE_PROFILE) -> dict:
    """Everything about a learner that does not depend on the duration scale. The same random draws in the same
    order whatever the cue profile: two profiles give the same learners, marks and noise, and differ only in how
    much of each cue follows the latent."""
    trait = _trait_rng(seed, index)
    structure = np.random.default_rng([seed, 1, index, 1])
    z = float(trait.standard_normal())
    cue_z = {}
    for name, rho in cue_loadings(cue_strength, cue_profile).items():
        cue_z[name] = rho * z + math.sqrt(1.0 - rho * rho) * float(trait.standard_normal())
    drawn = L1_VOICES[int(trait.integers(len(L1_VOICES)))]
    l1 = l1 if l1 is not None else drawn
    variant = VOICE_VARIANTS[int(trait.integers(len(VOICE_VARIANTS)))]
    pitch = int(trait.integers(35, 66))
    noise_dbfs = float(trait.uniform(-62.0, -48.0))
    peak = float(trait.uniform(0.35, 0.9))
    theta, marks = draw_marks(trait, z, plan)
    params = {
        "rate_wpm": float(np.clip(145.0 + 22.0 * cue_z["rate"], 95.0, 210.0)),
        "pause_scale": float(math.exp(-0.42 * cue_z["pause"])),
        "filler_prob": _sigmoid(-1.1 - 0.85 * cue_z["filler"]),
        "disfluency_rate": float(math.exp(-1.0 - 0.7 * cue_z["disfluency"])),
        "fill_target": float(np.clip(_sigmoid(1.0 + 0.9 * cue_z["length"]), 0.2, 1.0)),
        "lexical_level": 1.6 + 0.75 * cue_z["lexical"],
    }
    released, overall_released = _released(structure, split, gaps, plan)
    answers = _answers(structure, split, gaps, released, plan)
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
        "released": tuple(p for p in plan.part_ids if p in released),
        "overall_released": overall_released and plan.test_format.overall is not None,
        "answers": answers,
    }
