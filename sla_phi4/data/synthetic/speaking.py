"""Speaking one answer: the sentences a learner says, with repetitions, false starts, pauses and fillers, synthesised
by espeak at the learner's rate, cut at the allotted time like the kit's answers, with a kit-style transcript."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sla_phi4.data.synthetic.kit import SAMPLE_RATE
from sla_phi4.data.synthetic.pools import FILLERS, Question, SentenceSource


@dataclass
class Token:
    speak: str  # what espeak reads (may carry punctuation)
    word: str | None  # transcript word (upper case), None for a filler
    marks: tuple[str, ...] = ()


def _words_of(sentence: str) -> list[Token]:
    tokens = []
    for raw in sentence.split():
        word = "".join(ch for ch in raw if ch.isalpha() or ch in "'-").strip("-'").upper()
        if word:
            tokens.append(Token(raw, word))
    return tokens


def _plain(token: Token) -> str:
    return token.speak.strip(",.;:!?")


def _with_disfluencies(tokens: list[Token], n_events: int, rng: np.random.Generator) -> tuple[list[Token], int]:
    """Insert repetitions (kit mark 'disfluency') and false starts (kit mark 'partial')."""
    done = 0
    for _ in range(n_events):
        if len(tokens) < 2:
            break
        kind = rng.random()
        pos = int(rng.integers(0, max(1, len(tokens) - 1)))
        if kind < 0.5:  # one word said twice
            t = tokens[pos]
            tokens.insert(pos, Token(_plain(t), t.word, ("disfluency",)))
        elif kind < 0.7 and pos + 1 < len(tokens):  # two words said twice
            a, b = tokens[pos], tokens[pos + 1]
            tokens[pos:pos] = [Token(_plain(a), a.word, ("disfluency",)), Token(_plain(b), b.word, ("disfluency",))]
        else:  # a false start: the first letters of a longer word, then the word
            candidates = [i for i, t in enumerate(tokens) if t.word and len(t.word) >= 5]
            if not candidates:
                continue
            i = candidates[int(rng.integers(len(candidates)))]
            stem = _plain(tokens[i])
            cut = int(rng.integers(2, min(4, len(stem) - 2) + 1))
            piece = stem[:cut]
            tokens.insert(i, Token(piece, piece.upper(), ("partial",)))
        done += 1
    return tokens, done


def _synth(text: str, learner: dict, rate: float) -> tuple[np.ndarray, list]:
    from sla_phi4.data.espeak_tts import synthesize_native  # noqa: PLC0415

    return synthesize_native(text, learner["voice"], int(round(rate)), learner["pitch"], seed=0)


def _token_starts(tokens: list[Token], text: str, timings: list, n_samples: int) -> list[int]:
    """Start sample of every token in the chunk audio; tokens espeak reported no event for are interpolated."""
    offsets, pos = [], 0
    for t in tokens:
        plain = _plain(t) or t.speak
        at = text.find(plain, pos)
        at = pos if at < 0 else at
        offsets.append(at)
        pos = at + len(plain)
    by_offset = {w.char_offset: w.sample for w in timings}
    known = [(o, by_offset[o]) for o in offsets if o in by_offset]
    if not known:
        known = [(0, 0)]
    xs = [0] + [o for o, _ in known] + [len(text)]
    ys = [0] + [s for _, s in known] + [n_samples]
    starts = np.interp(offsets, xs, ys)
    starts[0] = 0
    return [int(s) for s in np.maximum.accumulate(starts)]


def speak_answer(learner: dict, question: Question, speaking_time: float, scale: float, rng: np.random.Generator,
                 native_rate: int) -> dict:
    """Speak one answer in at most `speaking_time` x `scale` seconds (at least 1.5); returns 16 kHz audio, the
    kit-style transcript and the cue statistics."""
    import soxr  # noqa: PLC0415

    prm = learner["params"]
    allotted = max(1.5, speaking_time * scale)
    limit = int(allotted * native_rate)
    pause_time = min(1.0, 0.4 + 0.6 * scale)  # pauses shrink less than the allotted time
    fill = float(np.clip(prm["fill_target"] * math.exp(0.12 * float(rng.standard_normal())), 0.15, 1.05))
    target = int(fill * allotted * native_rate)
    rate_answer = prm["rate_wpm"] * math.exp(0.05 * float(rng.standard_normal()))
    source = SentenceSource(question, prm["lexical_level"], rng)

    pieces: list[np.ndarray] = []
    length = 0
    transcript: list[dict] = []
    stats = {"words": 0, "letters": 0, "fillers": 0, "disfluencies": 0, "pauses": 0, "pause_s": 0.0,
             "levels": [], "speech_s": 0.0}
    cut = False

    def add_audio(audio: np.ndarray) -> None:
        nonlocal length
        pieces.append(audio)
        length += audio.size

    def add_silence(seconds: float) -> bool:
        n = int(seconds * native_rate)
        if length + n >= limit:
            return False
        add_audio(np.zeros(n, np.float32))
        return True

    def pause_len(mean: float) -> float:
        return float(rng.gamma(4.0, mean * prm["pause_scale"] * pause_time / 4.0))

    def add_pause(mean: float) -> bool:
        """A silent pause, sometimes with a filler in it. False when the time is up."""
        seconds = pause_len(mean)
        stats["pauses"] += 1
        stats["pause_s"] += seconds
        if rng.random() < prm["filler_prob"]:
            before = seconds * float(rng.uniform(0.2, 0.6))
            if not add_silence(before):
                return False
            filler = FILLERS[int(rng.integers(len(FILLERS)))]
            audio, _ = _synth(filler, learner, rate_answer * 0.8)
            if length + audio.size >= limit:
                return False
            add_audio(audio)
            transcript.append({"tag": "hesitation"})
            stats["fillers"] += 1
            return add_silence(seconds - before)
        return add_silence(seconds)

    # delay before the first word (never more than a quarter of the allotted time)
    add_silence(min(0.25 * allotted, (0.2 + 0.3 * prm["pause_scale"]) * pause_time * float(rng.uniform(0.6, 1.4))))
    first = True
    while not cut and (first or length < target):
        if not first and not add_pause(0.55):
            cut = True
            break
        sentence, level = source.next()
        stats["levels"].append(level)
        tokens = _words_of(sentence)
        n_events = int(rng.poisson(prm["disfluency_rate"]))
        tokens, n_done = _with_disfluencies(tokens, n_events, rng)
        stats["disfluencies"] += n_done
        # split the sentence into chunks at pauses (likelier after commas)
        chunks: list[list[Token]] = [[]]
        for i, t in enumerate(tokens):
            chunks[-1].append(t)
            if i < len(tokens) - 1:
                p = 0.05 * prm["pause_scale"] * (4.0 if t.speak.endswith(",") else 1.0)
                if rng.random() < min(0.6, p):
                    chunks.append([])
        sentence_rate = rate_answer * math.exp(0.04 * float(rng.standard_normal()))
        for c, chunk in enumerate(chunks):
            if c > 0 and not add_pause(0.35):
                cut = True
                break
            text = " ".join(t.speak for t in chunk)
            text = text.rstrip(",.;:!?") + ("." if c == len(chunks) - 1 else ",")
            audio, timings = _synth(text, learner, sentence_rate)
            if audio.size == 0:
                continue
            room = limit - length
            if audio.size <= room:
                add_audio(audio)
                stats["speech_s"] += audio.size / native_rate
                for t in chunk:
                    entry = {"word": t.word}
                    if t.marks:
                        entry["marks"] = list(t.marks)
                    transcript.append(entry)
                    stats["words"] += 1
                    stats["letters"] += len(t.word)
                continue
            # the time is up inside this chunk: keep the words started, the last one maybe partial
            starts = _token_starts(chunk, text, timings, audio.size)
            keep_audio = room
            for k, t in enumerate(chunk):
                start = starts[k]
                end = starts[k + 1] if k + 1 < len(chunk) else audio.size
                if k == 0 and stats["words"] == 0:  # an answer says at least its first word
                    keep_audio, frac = max(room, end), 1.0
                elif start >= room:
                    break
                else:
                    frac = (room - start) / max(1, end - start)
                if frac >= 0.9:
                    entry = {"word": t.word}
                    if t.marks:
                        entry["marks"] = list(t.marks)
                elif frac >= 0.3:
                    letters = max(1, int(round(len(t.word) * frac)))
                    entry = {"word": t.word[:letters], "marks": ["partial"]}
                else:
                    keep_audio = start
                    break
                transcript.append(entry)
                stats["words"] += 1
                stats["letters"] += len(entry["word"])
            piece = audio[:keep_audio].copy()
            fade = min(piece.size, int(0.01 * native_rate))
            if fade:
                piece[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            add_audio(piece)
            stats["speech_s"] += piece.size / native_rate
            cut = True
            break
        first = False
        if not cut:
            transcript.append({"tag": "speech-unit-statement"})
    if cut and (not transcript or transcript[-1].get("tag") != "speech-unit-statement"):
        transcript.append({"tag": "speech-unit-incomplete"})  # time ran out inside a sentence
    else:  # a little silence after the last word, inside the allotted time
        add_silence(min(float(rng.uniform(0.2, 0.6)) * pause_time, max(0.0, (limit - length) / native_rate - 0.01)))

    native = np.concatenate(pieces) if pieces else np.zeros(int(0.5 * native_rate), np.float32)
    audio = soxr.resample(native, native_rate, SAMPLE_RATE).astype(np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio *= learner["peak"] / peak
    audio += (10.0 ** (learner["noise_dbfs"] / 20.0)) * rng.standard_normal(audio.size).astype(np.float32)
    np.clip(audio, -1.0, 1.0, out=audio)
    return {
        "audio": audio,
        "transcript": transcript,
        "allotted_s": allotted,
        "hit_limit": cut,
        "stats": stats,
    }

