"""Property-based: sessions of random shape end in scores, or in SessionInputError / AudioInputError naming the
session; never in another exception, and never in a score for input the package refuses.

Each drawn response carries what the package must do with it: `refuse` (an input it documents as an error), `take`
(valid audio, which must be scored), or `either` (a length at the edge of the 400-sample minimum after resampling).
"""

import functools
import math

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modeling_sla import load_test_format
from modeling_sla.pipeline_sla import TASK, register_sla_pipeline
from processing_sla import AudioInputError, SessionInputError


SANDI = load_test_format("sandi2025")
SCORED_PARTS = SANDI.part_ids


RATE = 16_000
MIN_SAMPLES = 400
VALID_RATES = [16_000, 8_000, 22_050, 44_100, 48_000, 16_000.0, np.int64(16_000)]
INVALID_RATES = [0, -16_000, float("nan"), float("inf"), "16k", None, True, 16_000.5]
FLOAT_TYPES = ["float32", "float64", "float16"]
INT_TYPES = ["int16", "int32", "int8", "uint8", "int64"]
REFUSED_TYPES = ["bool", "complex64", "<U1"]


@pytest.fixture(scope="module")
def scorer(tiny_model, tiny_processor):
    from transformers import pipeline

    register_sla_pipeline()
    return pipeline(TASK, model=tiny_model, processor=tiny_processor)


# Files a user may point at, and what the package must do with each.
FILES = {"speechless.flac": "take", "stereo-44k.wav": "take", "8bit.wav": "take", "corrupt.flac": "refuse",
         "empty.wav": "refuse", "too-short.wav": "refuse", "absent.flac": "refuse", "a-folder.wav": "refuse"}


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-audio")
    rng = np.random.default_rng(0)
    soundfile.write(folder / "speechless.flac", 0.1 * rng.standard_normal(RATE), RATE)
    soundfile.write(folder / "stereo-44k.wav", 0.1 * rng.standard_normal((44_100, 2)), 44_100, subtype="PCM_16")
    soundfile.write(folder / "8bit.wav", 0.1 * rng.standard_normal(RATE), RATE, subtype="PCM_U8")
    (folder / "corrupt.flac").write_bytes(b"fLaC but not really")
    soundfile.write(folder / "empty.wav", np.zeros(0), RATE)
    soundfile.write(folder / "too-short.wav", np.zeros(100), RATE)
    (folder / "a-folder.wav").mkdir()
    return folder


class FileRef:
    """A file of `audio_folder`, given as a path or as `{"path": ...}`; resolved when the test runs."""

    def __init__(self, name: str, as_dict: bool):
        self.name, self.as_dict = name, as_dict

    def resolve(self, folder):
        path = str(folder / self.name)
        return {"path": path} if self.as_dict else path


SENTENCES = ("I live in a small town near the sea.", "My favourite book is a long story about a family.",
             "More people travel by train now than ten years ago.", "Children should learn to cook at school.")


@functools.lru_cache(maxsize=None)
def espeak_sentence(index: int) -> np.ndarray:
    from sla_phi4.data.espeak_tts import synthesize

    return synthesize(SENTENCES[index])


# ------------------------------------------------------------------------------------------------ strategies
# Each response has at most one defect, drawn here (None most often, so that many sessions are valid and scored).
RESPONSE_DEFECTS = [None] * 24 + ["part", "not a dict", "no audio", "bad file", "dtype", "rank", "short", "nan",
                                  "range", "rate", "ragged"]
SESSION_DEFECTS = [None] * 24 + ["no responses", "responses missing", "responses not a list"]


def signal_of(content: str, seed: int, length: int) -> np.ndarray:
    if content == "speech":
        return np.resize(espeak_sentence(seed), length).astype(np.float64)
    if content == "noise":
        return np.random.default_rng(seed).standard_normal(length)
    if content == "sine":
        return np.sin(2 * np.pi * 220 * np.arange(length) / RATE)
    return np.zeros(length)


def as_dtype(signal: np.ndarray, dtype: str) -> tuple[np.ndarray, bool]:
    """`signal` (peak at most 1) in `dtype`, integer types as PCM; and whether the result is silence."""
    if dtype in INT_TYPES:
        info = np.iinfo(dtype)
        full = 2.0 ** (info.bits - 1)
        offset = 0 if info.min < 0 else full
        upper = min(info.max, 2.0**62)  # int64's maximum is not a float64
        values = np.clip(np.round(np.nan_to_num(signal) * full + offset), info.min, upper)
        return values.astype(dtype), not np.any(values != offset)
    return signal.astype(dtype), not np.any(signal)


@st.composite
def arrays(draw, defect):
    """`(array, identity, samples)`: audio of any dtype, rank, length and range; `defect` makes it one the package
    must refuse."""
    dtype = draw(st.sampled_from(REFUSED_TYPES if defect == "dtype" else FLOAT_TYPES * 2 + INT_TYPES))
    length = draw(st.sampled_from([0, 100, 300] if defect == "short" else [16_000, 32_000, 8_000, 40_000, 1_000, 450]))
    content = draw(st.sampled_from(["speech", "noise", "sine", "zeros"]))
    seed = draw(st.integers(0, len(SENTENCES) - 1))
    scale = draw(st.sampled_from([3.0, 1000.0] if defect == "range" else [0.5, 1.0, 0.0001, 1.5]))
    signal = signal_of(content, seed, length)
    peak = np.abs(signal).max() if length else 0.0
    signal = signal / peak * min(scale, 1.0 if dtype in INT_TYPES else scale) if peak else signal
    if defect == "range" and (not peak or dtype not in FLOAT_TYPES):
        dtype, signal = "float32", np.full(length, scale)  # only float audio can be out of range
    if defect == "nan":
        dtype, signal = draw(st.sampled_from(FLOAT_TYPES)), np.where(np.arange(length) == length // 2, np.nan, signal)
    if dtype == "<U1":
        array, silent = np.array(["a"] * length), False
    else:
        array, silent = as_dtype(signal, dtype)
    if defect == "rank":
        array = draw(st.sampled_from([array.reshape(1, 1, -1), array[:1].reshape(()) if length else np.float32(0.5)]))
    elif draw(st.integers(0, 3)) == 3:  # stereo, as (frames, channels) or (channels, frames)
        array = np.stack([array] * draw(st.sampled_from([1, 2])), axis=draw(st.sampled_from([0, 1])))
    # what makes two responses' samples equal: silence of a length, or the same signal
    identity = ("array", length) + (("silence",) if silent else (content, None if content == "sine" else seed))
    return array, identity, length


@st.composite
def responses(draw):
    """`(response, verdict, identity)`: verdict `refuse`, `take` or `either` (a length at the edge of the minimum)."""
    defect = draw(st.sampled_from(RESPONSE_DEFECTS))
    if defect == "not a dict":
        return draw(st.sampled_from(["P1.flac", 3, None, ["P1"]])), "refuse", None
    part = draw(st.sampled_from(["P2", "p1", "", None, 5, "overall"] if defect == "part" else SCORED_PARTS))
    # any text, but no special-token markup "<|...|>": question text parsed as special tokens is another issue
    question = draw(st.none() | st.text(max_size=60).map(lambda text: text.replace("<|", "< |")))
    response = {"part": part, "question": question}
    if draw(st.booleans()):
        response["response_id"] = draw(st.sampled_from(["r1", "r2", "S-01-P10001", "ü 1"]))
    verdict = "refuse" if defect else "take"
    kind = "none" if defect == "no audio" else draw(st.sampled_from(["array", "dict", "path", "list"]))
    if defect in ("bad file", "rate"):
        kind = {"bad file": "path", "rate": "dict"}[defect]
    if kind == "none":
        response["audio"] = None
        return response, verdict, None
    if kind == "path":
        name = draw(st.sampled_from([name for name, taken in FILES.items() if (taken == "take") != bool(defect)]))
        response["audio"] = FileRef(name, draw(st.booleans()))
        return response, verdict, ("file", name)
    if defect == "ragged":
        response["audio"] = [[0.0] * 100, [0.0] * 3]
        return response, verdict, None
    array, identity, samples = draw(arrays(defect))
    rate = RATE
    if kind == "dict":
        rate = draw(st.sampled_from(INVALID_RATES + ["missing"] if defect == "rate" else VALID_RATES))
        response["audio"] = {"array": array} if rate == "missing" else {"array": array, "sampling_rate": rate}
    elif kind == "list":
        response["audio"] = array.tolist() if isinstance(array, np.ndarray) else array
    else:
        response["audio"] = array
    if verdict == "take":
        resampled = samples * RATE / float(rate)
        verdict = "refuse" if resampled < MIN_SAMPLES - 20 else "take" if resampled > MIN_SAMPLES + 20 else "either"
    return response, verdict, identity


@st.composite
def sessions(draw):
    """`(session, verdict, may_repeat)`: a session of random shape, and whether two responses may be the same."""
    defect = draw(st.sampled_from(SESSION_DEFECTS))
    drawn = [] if defect == "no responses" else draw(st.lists(responses(), min_size=1, max_size=3))
    session = {}
    if draw(st.booleans()):
        session["session_id"] = draw(st.sampled_from(["S-01", "SI114J-00011", "session ü", 7]))
    items = [response for response, _, _ in drawn]
    if defect == "responses not a list":
        session["responses"] = draw(st.sampled_from(["P1.flac", {"part": "P1"}, 3]))
    elif defect != "responses missing":
        session["responses"] = tuple(items) if draw(st.integers(0, 9)) == 9 else items
    if defect:
        return session, "refuse", False
    verdicts = [verdict for _, verdict, _ in drawn]
    parts = [r.get("part") for r in items if isinstance(r, dict)]
    if any(parts.count(part.id) > part.max_responses for part in SANDI.parts):  # two P3 long turns
        verdicts.append("refuse")
    ids = [r["response_id"] for r in items if isinstance(r, dict) and r.get("response_id")]
    identities = [identity for _, _, identity in drawn if identity is not None]
    may_repeat = len(set(ids)) < len(ids) or len(set(identities)) < len(identities)
    verdict = "refuse" if "refuse" in verdicts else "either" if "either" in verdicts else "take"
    return session, verdict, may_repeat


# ---------------------------------------------------------------------------------------------------- property
def check_result(result, session) -> None:
    """A well-formed result: scores in range or None exactly where the rules say, levels matching, warnings."""
    parts = {response["part"] for response in session["responses"]}
    expected_none = {part for part in SCORED_PARTS if part not in parts}
    if expected_none:
        expected_none.add("overall")
    assert {name for name, value in result["scores"].items() if value is None} == expected_none
    for name, value in result["scores"].items():
        if value is not None:
            assert 2.0 <= value <= 5.5 and math.isfinite(value)
            assert result["cefr"][name] == result["levels"][name] == SANDI.level(name, value)
    assert isinstance(result["warnings"], list)
    for warning in result["warnings"]:
        assert set(warning) == {"response_id", "part", "reason", "detail"}


def with_files(session: dict, folder) -> dict:
    """The session with its file references resolved to paths in `folder`."""
    responses = session.get("responses")
    if isinstance(responses, (list, tuple)):
        session = dict(session, responses=type(responses)(
            dict(r, audio=r["audio"].resolve(folder)) if isinstance(r, dict) and isinstance(r.get("audio"), FileRef)
            else r for r in responses))
    return session


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(drawn=sessions())
def test_any_session_ends_in_scores_or_a_named_refusal(scorer, audio_folder, drawn):
    session, verdict, may_repeat = drawn
    session = with_files(session, audio_folder)
    name = f"Session {session.get('session_id', '#0')}"
    try:
        result = scorer(session)
    except (SessionInputError, AudioInputError) as error:
        event(f"{verdict}: {type(error).__name__}")
        assert str(error).startswith(name), str(error)
        assert verdict != "take" or (may_repeat and "the same" in str(error)), (verdict, str(error))
        return
    event(f"{verdict}: scored" + (" with warnings" if result["warnings"] else ""))
    assert verdict != "refuse", f"scored input the package refuses: {session!r}"
    check_result(result, session)
