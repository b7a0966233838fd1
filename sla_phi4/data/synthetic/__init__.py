"""A synthetic corpus of a test format (Speak & Improve by default; IELTS-like and TOEFL-like too), written in the
real S&I kit's layout, with espeak-ng speech.

:func:`make_synthetic_corpus` writes a tree that :func:`sla_phi4.data.kit.load_kit` reads like the real S&I
Challenge 2025 kit (here S&I's names; other formats' parts and file names are their own)::

    data/flac/train/{NN}/{P1,P3,P4,P5}/{submissionID}-{questionID}.flac     (train: one folder per part)
    data/flac/{dev,eval}/{NN}/{submissionID}-{questionID}.flac              (dev, eval: no part folder)
    reference-materials/flists.flac/{split}-sla-{P1,P3,P4,P5,overall}.tsv  fileID<TAB>relative path
    reference-materials/sla-marks/{split}-sla-{P1,P3,P4,P5,overall}.tsv    submissionID<TAB>score (%.3f)
    reference-materials/annotations/{split}-synthetic-trans-ref.json       kit annotation format
    reference-materials/speakers.tsv                                        one learner per line, with a header
    synthetic-summary.json                                                  counts, speed and checks
    test_format.json                                                        the test format

Each format has a plan (:mod:`.plan`, ``resources/plan_<format>.json``): the kind of question form of each part,
its question IDs and times, the learner model's marks and how sessions are made incomplete.

The learner model. Every session is one learner with a latent proficiency ``z`` (standard normal; on the
mark scale ``mean + sd z``, S&I ``3.95 + 0.58 z``). Each part mark is that plus a part offset (S&I: the real train
part mean minus the overall mean) and its own noise, rounded to the format's bands (S&I: half bands in 2.0-5.5);
the overall mark follows the format's rule (S&I: the mean of the four part marks, written like the kit, e.g.
4.125).
The latent is audible and readable through six cues, each ``rho * z + sqrt(1 - rho^2) * e`` with its OWN
per-learner noise ``e`` (a fluent speaker may use plain words, a slow one rich words):

- ``rate``: speaking rate (espeak words per minute);
- ``pause``: silences between sentences and inside them, and the delay before speaking;
- ``filler``: spoken fillers ("um", "er", ...) in pauses, transcribed as ``hesitation`` tags like the kit;
- ``disfluency``: repetitions and false starts (kit marks ``disfluency`` and ``partial``);
- ``length``: how much of the allotted speaking time the answer fills (long answers are cut at the limit,
  ending with a partial word and a ``speech-unit-incomplete`` tag, as in the kit);
- ``lexical``: the CEFR level (A2, B1, B2, C1) of the sentences drawn from graded pools written per part
  and question topic, sentence by sentence around the learner's level.

The L1 is one of several espeak voices of other languages reading the English text; it is drawn apart
from the latent (balanced against it within each split, see :func:`~.learners.assign_l1`) and must not change
the score. S&I sessions are made incomplete (whole parts missing, missing answers inside P1 and P5, overall marks
for sessions whose part files are not all released) at the rates of the real kit's train lists; dev and eval
have missing answers only, like the real dev. Other formats' plans give these rates.

Everything is drawn from numpy generators seeded by (seed, session): the same seed gives the same bytes,
with any number of worker processes (espeak is reloaded before every session, see
:func:`sla_phi4.data.espeak_tts.reset`). Only stdlib, numpy, soundfile, soxr and tqdm are used here.

One concern per module: :mod:`.kit` (the kit's layout and the real kit's statistics), :mod:`.plan` (each format's
plan), :mod:`.pools` (the graded text and the test forms), :mod:`.learners` (the learner model), :mod:`.speaking` (speaking one answer),
:mod:`.kit_writer` (the lists, marks, annotations and speakers.tsv), :mod:`.summary` (the summary and its checks)
and :mod:`.corpus` (the whole corpus, in worker processes). The text pools, phrases, voices and the real kit's
statistics are data files under ``resources/``, each with its source.
"""

from sla_phi4.data.synthetic.corpus import make_synthetic_corpus
from sla_phi4.data.synthetic.kit import DEFAULT_SPLITS, SAMPLE_RATE
from sla_phi4.data.synthetic.learners import L1_VOICES, VOICE_VARIANTS, cue_loadings
from sla_phi4.data.synthetic.plan import PARTS, QUESTION_IDS, SPEAKING_TIME, CorpusPlan, load_plan
from sla_phi4.data.synthetic.pools import corpus_texts, load_pools
from sla_phi4.data.synthetic.summary import ridge_r2, voiced_fraction


__all__ = [
    "DEFAULT_SPLITS",
    "CorpusPlan",
    "L1_VOICES",
    "PARTS",
    "QUESTION_IDS",
    "SAMPLE_RATE",
    "SPEAKING_TIME",
    "VOICE_VARIANTS",
    "corpus_texts",
    "cue_loadings",
    "load_plan",
    "load_pools",
    "make_synthetic_corpus",
    "ridge_r2",
    "voiced_fraction",
]
