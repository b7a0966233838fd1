"""Does the language model hear what learners say? The language study's probe, which trains no session model.

The language study's three backbones ((a) random decoder, (b) SmolLM2 with a random projector, (c) the same aligned),
untrained, on its two corpora. For every session, pooled states of the frozen backbone
(`sla_phi4.evaluation.language_states`):

- heard: its language model's states at the session's audio positions, middle layer, averaged;
- head input: the last position's final state, what the score head reads (a ridge on it is the head trained alone
  on the frozen model);
- read: the same language model reading the session's reference transcript as text, middle layer (what it would
  hold if it heard every word), and its token embeddings alone (a bag of words, no context); once a language model
  ((c) reads as (b) does).

Each feature set, and the baselines (training mean, timing ridge, pooled-Whisper ridge), goes through the same ridge
(`RidgeBaseline`, strength by cross-validation inside each fold), in 5-fold cross-validation over all the corpus's
sessions; one seed a fold assignment: RMSE and PCC per target, mean ± sd over seeds. The layer (the middle) is fixed
in advance, not chosen on the folds.

    sla ablation --study language-probe [--seeds 0 1 2] [--workdir runs/ablation]
"""

import os
from dataclasses import replace

import numpy as np
from sklearn.model_selection import KFold

from sla_phi4.experiments.studies.language import CORPORA, check_language_model, corpus_study, variants
from sla_phi4.experiments.studies.report import TARGETS, figure, mean_sd, spread, table, write_study
from sla_phi4.experiments.studies.runs import StudySettings, demo_settings


FOLDS = 5
SPLITS = ("train", "dev", "eval")
BASELINES = {"train_mean": "training mean", "timing": "timing ridge", "whisper": "pooled-Whisper ridge"}
FEATURES = {"heard": "heard, middle layer", "head_input": "head input (frozen)", "read": "read, middle layer",
            "read_embeddings": "read, token embeddings"}


def middle(layers: np.ndarray) -> np.ndarray:
    """The middle layer of `(sessions, layers + 1, hidden)` states (layer 0: the embeddings)."""
    return layers[:, layers.shape[1] // 2]


def fold_predictions(features: np.ndarray | None, marks: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold predictions of every target: a ridge on `features`, or the training folds' mean when None."""
    from sla_phi4.evaluation.baselines import RidgeBaseline

    predictions = np.full(marks.shape, np.nan)
    for train, held_out in KFold(FOLDS, shuffle=True, random_state=seed).split(marks):
        if features is None:
            predictions[held_out] = np.nanmean(marks[train], axis=0)
            continue
        ridge = RidgeBaseline().fit(features[train], {target: marks[train, i] for i, target in enumerate(TARGETS)})
        for i, values in enumerate(ridge.predict(features[held_out]).get(target) for target in TARGETS):
            predictions[held_out, i] = np.nanmean(marks[train, i]) if values is None else values
    return predictions


def cross_validated(features: np.ndarray | None, marks: np.ndarray, seeds: list[int]) -> dict:
    """`{target: {"rmse": spread, "pcc": spread}}` over the seeds' fold assignments (sessions with the mark)."""
    per_seed = {target: {"rmse": [], "pcc": []} for target in TARGETS}
    for seed in seeds:
        predictions = fold_predictions(features, marks, seed)
        for i, target in enumerate(TARGETS):
            marked = np.isfinite(marks[:, i])
            error = predictions[marked, i] - marks[marked, i]
            per_seed[target]["rmse"].append(float(np.sqrt(np.mean(error**2))))
            varies = np.std(predictions[marked, i]) > 0
            per_seed[target]["pcc"].append(float(np.corrcoef(predictions[marked, i], marks[marked, i])[0, 1])
                                           if varies else 0.0)
    return {target: {metric: spread(values) for metric, values in metrics.items()}
            for target, metrics in per_seed.items()}


def corpus_rows(settings) -> list[dict]:
    """Every session of the corpus with audio, train, dev and eval in turn."""
    from sla_phi4.data.sessions import scorable_rows

    return [row for split in SPLITS for row in scorable_rows(settings.corpus_dir, split, "error")]


def corpus_marks(rows: list[dict]) -> np.ndarray:
    return np.array([[np.nan if row.get(target) is None else row[target] for target in TARGETS] for row in rows],
                    dtype=float)


def transcripts_of(corpus_dir: str, rows: list[dict]) -> list[str]:
    from sla_phi4.data.transcripts import read_transcripts, session_transcript

    words = {}
    for split in SPLITS:
        words.update(read_transcripts(corpus_dir, split))
    return [session_transcript(row, words) for row in rows]


def backbone_features(study: StudySettings, variant, rows: list[dict], texts: list[str] | None, cache_dir: str,
                      backbone_dir: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """One backbone's feature sets (the read ones only with `texts`), and the pooled Whisper states of its APP (the
    same for every backbone)."""
    from modeling_sla import SLAForSessionScoring, load_test_format
    from processing_sla import SLAProcessor
    from sla_phi4.evaluation.language_states import heard_states, read_states
    from sla_phi4.experiments.demo import build_base
    from sla_phi4.training.session_cache import SessionCache

    settings = demo_settings(study, variant, seed=0)
    build_base(settings, backbone_dir, load_test_format(settings.format))
    model = SLAForSessionScoring.from_pretrained(backbone_dir).eval()
    processor = SLAProcessor.from_pretrained(backbone_dir)
    cache = SessionCache(model, processor, folder=cache_dir)
    cache.add(rows, f"Encoders ({variant.label})")
    heard, head_inputs = heard_states(model, cache, rows, f"Heard states ({variant.label})")
    app = np.stack([cache[row]["app_pooled"].numpy() for row in rows]) if model.app is not None else None
    features = {"heard": middle(heard), "head_input": head_inputs}
    if texts is not None:
        read = read_states(model, processor.tokenizer, texts, f"Read states ({variant.label})")
        features.update(read=middle(read), read_embeddings=read[:, 0])
    return features, app


def corpus_probe(study: StudySettings, corpus: str) -> dict:
    """Baselines and every backbone's feature sets on one corpus, cross-validated."""
    from modeling_sla import load_test_format
    from sla_phi4.evaluation.baselines import session_features
    from sla_phi4.experiments.demo import ensure_corpus

    place = corpus_study(study, corpus)
    arms = variants(study, corpus)
    settings = demo_settings(place, arms[0], seed=0)
    ensure_corpus(settings, load_test_format(settings.format))
    rows = corpus_rows(settings)
    marks, texts = corpus_marks(rows), transcripts_of(settings.corpus_dir, rows)
    baseline_sets = {"train_mean": None, "timing": np.stack([session_features(row) for row in rows])}
    results, app, language_models_read = {}, None, set()
    for index, variant in enumerate(arms):
        backbone_dir = os.path.join(study.workdir, "language-probe", "backbones", chr(ord("a") + index))
        language_model = variant.overrides.get("language_model", "random")
        reads = language_model not in language_models_read  # an aligned projector changes nothing it reads
        language_models_read.add(language_model)
        features, app = backbone_features(place, variant, rows, texts if reads else None, place.cache_dir,
                                          backbone_dir)
        results[variant.label] = {name: cross_validated(values, marks, study.seeds)
                                  for name, values in features.items()}
    if app is not None:
        baseline_sets["whisper"] = app
    return {"sessions": len(rows), "marked": {t: int(np.isfinite(marks[:, i]).sum()) for i, t in enumerate(TARGETS)},
            "baselines": {name: cross_validated(values, marks, study.seeds) for name, values in baseline_sets.items()},
            "backbones": results}


def rows_of(probe: dict) -> list[tuple[str, dict]]:
    """`(label, {target: {"rmse", "pcc"}})` in the tables' order: baselines, then each backbone's feature sets."""
    labelled = [(BASELINES[name], stats) for name, stats in probe["baselines"].items()]
    for variant, sets in probe["backbones"].items():
        labelled += [(f"{variant}: {FEATURES[name]}", stats) for name, stats in sets.items()]
    return labelled


def corpus_table(probe: dict) -> str:
    header = ["features", *(f"{target} RMSE" for target in TARGETS), "overall PCC"]
    body = [[label, *(mean_sd(stats[target]["rmse"]) for target in TARGETS), mean_sd(stats["overall"]["pcc"], 2)]
            for label, stats in rows_of(probe)]
    return table(header, body)


def markdown(per_corpus: dict, seeds: list[int]) -> str:
    sections = []
    for corpus, probe in per_corpus.items():
        sections += [f"Corpus `{corpus}` ({probe['sessions']} sessions; marked: "
                     + ", ".join(f"{t} {n}" for t, n in probe["marked"].items()) + "):", corpus_table(probe)]
    sections.append(f"RMSE (and overall PCC) of {FOLDS}-fold cross-validation over all sessions, mean ± sd over fold "
                    f"seeds {', '.join(map(str, seeds))}; backbones untrained (weights seed 0), LoRA at zero.")
    return "\n\n".join(sections)


def plot(per_corpus: dict):
    canvas, axes = figure(len(per_corpus), width=6.0, height=5.0)
    for axis, (corpus, probe) in zip(axes[0], per_corpus.items()):
        labelled = rows_of(probe)
        positions = np.arange(len(labelled))
        for position, (label, stats) in zip(positions, labelled):
            axis.errorbar(stats["overall"]["rmse"]["mean"], position, xerr=stats["overall"]["rmse"]["sd"], fmt="o",
                          capsize=2, color="grey" if label in BASELINES.values() else "C0")
        axis.axvline(probe["baselines"]["train_mean"]["overall"]["rmse"]["mean"], color="grey", linestyle="--",
                     label="training mean")
        axis.set(yticks=positions, yticklabels=[label for label, _ in labelled], xlabel="overall RMSE (CV)",
                 title=f"{corpus} corpus")
        axis.invert_yaxis()
        axis.tick_params(axis="y", labelsize=7)
    return canvas


def run(study: StudySettings) -> dict:
    study = replace(study, study="language-probe")
    check_language_model(study)
    per_corpus = {corpus: corpus_probe(study, corpus) for corpus in CORPORA}
    report = {"study": "language-probe", "seeds": study.seeds, "folds": FOLDS, "language_model": study.language_model,
              "corpora": per_corpus}
    return write_study(study, report, markdown(per_corpus, study.seeds), plot(per_corpus))


__all__ = ["FEATURES", "cross_validated", "fold_predictions", "middle", "run"]
