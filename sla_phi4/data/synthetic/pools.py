"""The text a learner says: graded sentence pools per part and topic, the test forms built from them, and the choice
of sentences for one answer. The pools, openers, fallbacks and fillers are data files under ``resources/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sla_phi4.data.synthetic.kit import LEVELS, read_json, resource
from sla_phi4.data.synthetic.plan import SANDI_PLAN, CorpusPlan, PartPlan


Pool = tuple[tuple[str, ...], ...]  # [level][slot]; slot i at every level answers the same point

_PHRASES = read_json(resource("phrases.json"))
OPENERS = tuple(tuple(_PHRASES["openers"][level]) for level in LEVELS)  # discourse markers, graded
FALLBACK = tuple(tuple(_PHRASES["fallback"][level]) for level in LEVELS)  # when a topic has no unused sentence
FILLERS = tuple(_PHRASES["fillers"])
POOL_FILES = ("p1_topics.json", "p3_topics.json", "p4_topics.json", "p5_themes.json")
THEME_QUESTIONS = 5  # every P5 theme has five questions, as the S&I kit's P5 has


@dataclass(frozen=True)
class Question:
    qid: str
    text: str  # kit style: literal "\n" sequences, not newlines
    pool: Pool
    ordered: bool  # slots spoken in order (P3, P4) or shuffled (P1, P5)


@dataclass(frozen=True)
class Pools:
    p1: dict[str, tuple[str, Pool]]  # topic -> (question, pool)
    p3: dict[str, tuple[str, Pool]]  # topic -> (statement, pool)
    p3_tail: str  # follows the statement in the question text
    p4: dict[str, tuple[str, str, Pool]]  # topic -> (what is presented, what the diagram shows, pool)
    p4_question: str  # the question text, with {what} and {shows}
    p5: dict[str, tuple[str, dict[str, Pool]]]  # theme -> (introduction, {question: pool})


def _pool(entry: dict, path: Path, topic: str) -> Pool:
    """The levels of one topic as ``pool[level][slot]``; every level must have the same number of sentences."""
    missing = [level for level in LEVELS if not isinstance(entry.get(level), list)]
    if missing:
        raise ValueError(f"{path}: topic {topic!r} has no sentence list for level(s) {', '.join(missing)}")
    counts = {level: len(entry[level]) for level in LEVELS}
    if len(set(counts.values())) != 1 or not counts[LEVELS[0]]:
        raise ValueError(f"{path}: topic {topic!r} has an unbalanced text pool: {counts} sentences per level "
                         "(every level needs the same number, at least one)")
    return tuple(tuple(text.strip() for text in entry[level]) for level in LEVELS)


def _topics(data: dict, path: Path, *fields: str) -> dict:
    """topic -> (its `fields`..., its pool), from a P1, P3 or P4 pool file."""
    return {key: (*(entry[f] for f in fields), _pool(entry, path, key)) for key, entry in data["topics"].items()}


def _themes(data: dict, path: Path) -> dict:
    """theme -> (its introduction, {question: pool}), from the P5 pool file."""
    themes = {}
    for key, theme in data["themes"].items():
        if len(theme["questions"]) != THEME_QUESTIONS:
            raise ValueError(f"{path}: theme {key!r} needs {THEME_QUESTIONS} questions")
        pools = {q: _pool(entry, path, f"{key}/{q}") for q, entry in theme["questions"].items()}
        themes[key] = (theme["intro"], pools)
    return themes


def load_pools(folder: str | Path | None = None) -> Pools:
    """Read and check the pool files (p1_topics.json, p3_topics.json, p4_topics.json, p5_themes.json) in `folder`
    (default: the package's ``resources/``)."""
    p1, p3, p4, p5 = (Path(folder) / name if folder is not None else resource(name) for name in POOL_FILES)
    p3_data, p4_data = read_json(p3), read_json(p4)
    return Pools(
        p1=_topics(read_json(p1), p1, "question"),
        p3=_topics(p3_data, p3, "statement"),
        p3_tail=p3_data["tail"],
        p4=_topics(p4_data, p4, "what", "shows"),
        p4_question=p4_data["question"],
        p5=_themes(read_json(p5), p5),
    )


POOLS = load_pools()


def _pick(table: dict, rng: np.random.Generator, used: set):
    """A random entry of `table` that is not in `used` (S&I's forms use each pool once: then every entry may come)."""
    keys = [key for key in table if key not in used]
    if not keys:
        raise ValueError(f"A test form needs more distinct entries than the pool's {len(table)}.")
    key = keys[int(rng.integers(len(keys)))]
    used.add(key)
    return table[key]


def _interview(part: PartPlan, rng: np.random.Generator, pools: Pools, used: set) -> list[Question]:
    topics = [topic for topic in pools.p1 if topic not in used]
    if len(topics) < len(part.questions):
        raise ValueError(f"Part {part.id} needs {len(part.questions)} interview topics; the pool has {len(topics)}.")
    chosen = [topics[i] for i in rng.permutation(len(topics))[: len(part.questions)]]
    used.update(chosen)
    return [Question(qid, *pools.p1[key], False) for qid, key in zip(part.questions, chosen)]


def _topic(part: PartPlan, rng: np.random.Generator, pools: Pools, used: set) -> list[Question]:
    statement, pool = _pick(pools.p3, rng, used)
    return [Question(part.questions[0], statement + pools.p3_tail, pool, True)]


def _diagram(part: PartPlan, rng: np.random.Generator, pools: Pools, used: set) -> list[Question]:
    what, shows, pool = _pick(pools.p4, rng, used)
    return [Question(part.questions[0], pools.p4_question.format(what=what, shows=shows), pool, True)]


def _discussion(part: PartPlan, rng: np.random.Generator, pools: Pools, used: set) -> list[Question]:
    intro, subs = _pick(pools.p5, rng, used)
    names = list(subs)
    questions = []
    for qid, name in zip(part.questions, names):
        bullets = "\\n".join(f"* **{n}**" if n == name else f"* {n}" for n in names)
        questions.append(Question(qid, intro + bullets, subs[name], False))
    return questions


FORM_BUILDERS = {"interview": _interview, "topic": _topic, "diagram": _diagram, "discussion": _discussion}


def questions_for(rng: np.random.Generator, pools: Pools = POOLS, plan: CorpusPlan = SANDI_PLAN
                  ) -> dict[str, list[Question]]:
    """The test form a learner gets, part by part in the plan's order (S&I: six P1 topics, one P3 statement, one P4
    process, one P5 theme); no pool entry twice in one form."""
    used = {form: set() for form in FORM_BUILDERS}
    return {part.id: FORM_BUILDERS[part.form](part, rng, pools, used[part.form]) for part in plan.parts}


def corpus_texts(forms: int = 100, seed: int = 0) -> list[str]:
    """Every sentence of the graded pools and the question texts of `forms` test forms: text to train a tokenizer
    that covers this corpus (the tiny checkpoints' tokenizer, so sessions are not split into bytes)."""
    rng = np.random.default_rng(seed)
    texts = {question.text.replace("\\n", "\n") for _ in range(forms)
             for questions in questions_for(rng).values() for question in questions}
    return sorted(texts) + pool_sentences()


def pool_sentences(pools: Pools = POOLS) -> list[str]:
    """Every sentence of the graded pools (all parts, topics and levels), sorted: what learners say."""
    every_pool = [pool for _, pool in pools.p1.values()] + [pool for _, pool in pools.p3.values()]
    every_pool += [pool for _, _, pool in pools.p4.values()]
    every_pool += [pool for _, subs in pools.p5.values() for pool in subs.values()]
    return sorted({sentence for pool in every_pool for level in pool for sentence in level})


def level_of_sentence(lexical: float, rng: np.random.Generator) -> int:
    return int(np.clip(round(lexical + 0.6 * float(rng.standard_normal())), 0, len(LEVELS) - 1))


class SentenceSource:
    """Sentences for one answer: slot by slot, each at a level drawn around the learner's."""

    def __init__(self, question: Question, lexical: float, rng: np.random.Generator):
        self.q, self.lexical, self.rng = question, lexical, rng
        n_slots = len(question.pool[0])
        self.order = list(range(n_slots)) if question.ordered else rng.permutation(n_slots).tolist()
        self.used: set[tuple[int, int]] = set()
        self.pos = 0

    def next(self) -> tuple[str, int]:
        level = level_of_sentence(self.lexical, self.rng)
        pool = self.q.pool
        if self.pos < len(self.order):
            slot = self.order[self.pos]
            self.pos += 1
        else:  # all points made: say one again in other words, or close
            free = [(lv, s) for lv in range(len(LEVELS)) for s in range(len(pool[0])) if (lv, s) not in self.used
                    and abs(lv - level) <= 1]
            if not free:
                options = FALLBACK[level]
                return options[int(self.rng.integers(len(options)))], level
            level, slot = free[int(self.rng.integers(len(free)))]
        self.used.add((level, slot))
        sentence = pool[level][slot]
        head = sentence.split(",", 1)[0]
        starts_with_marker = "," in sentence and len(head.split()) <= 3  # "Having said that, ..."
        if self.rng.random() < 0.3 and not starts_with_marker:
            opener = OPENERS[level][int(self.rng.integers(len(OPENERS[level])))]
            if sentence.split(" ", 1)[0] not in ("I", "I'm", "I've", "I'd"):
                sentence = sentence[0].lower() + sentence[1:]
            sentence = f"{opener} {sentence}"
        return sentence, level
