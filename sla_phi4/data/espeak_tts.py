"""Text to speech through the libespeak-ng bundled with ``espeakng-loader`` (ctypes, no system espeak).

The synthetic Speak & Improve corpus (:mod:`sla_phi4.data.synthetic`) uses this module to speak its
graded learner texts. espeak-ng synthesises at its native rate (22050 Hz); :func:`synthesize` resamples to
16 kHz mono float32 with soxr, :func:`synthesize_native` keeps the native rate and also returns where each
word starts (from espeak's word events), which the corpus writer uses to cut a response at its time limit.

espeak-ng keeps global state, so every call goes through one lock: safe for threads inside one process.
Each process has its own copy of the library state (the corpus writer uses worker processes), and
:func:`reset` reloads it so that a sequence of calls gives the same bytes whatever ran before.
``espeakng_loader`` is imported lazily; without it a clear ``ImportError`` says what to install.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import numpy as np


__all__ = [
    "NATIVE_SAMPLE_RATE",
    "SAMPLE_RATE",
    "EspeakError",
    "WordTiming",
    "available_voices",
    "has_voice",
    "require_speech_synthesis",
    "native_sample_rate",
    "reset",
    "synthesize",
    "synthesize_native",
]

SAMPLE_RATE = 16000
NATIVE_SAMPLE_RATE = 22050  # what the bundled library reports; native_sample_rate() gives the live value

# espeak-ng API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_MIN_RATE, _MAX_RATE = 80, 450


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or refused a request."""


@dataclass(frozen=True)
class WordTiming:
    """Start of one word in the native-rate audio: ``char_offset`` is 0-based in the text given."""

    char_offset: int
    length: int
    sample: int


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def require_speech_synthesis() -> None:
    """Raises the install hint when espeak-ng (the `tts` extra) is not installed; call before writing anything."""
    _load_espeakng_loader()


def _load_espeakng_loader():
    try:
        import espeakng_loader  # noqa: PLC0415 - lazy on purpose
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "synthetic speech needs the 'espeakng-loader' package (it bundles libespeak-ng and its voice data): "
            "pip install 'sla-phi4[tts]'", name="espeakng_loader"
        ) from exc
    return espeakng_loader


class _Engine:
    """One initialised libespeak-ng per process."""

    def __init__(self) -> None:
        loader = _load_espeakng_loader()
        self.data_path = loader.get_data_path()
        try:
            lib = ctypes.CDLL(loader.get_library_path())
        except OSError as exc:  # pragma: no cover
            raise EspeakError(f"cannot load libespeak-ng from {loader.get_library_path()}: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        # espeak-ng draws from its own generator (and libc rand) while it synthesises: seeding both before
        # every call makes the audio a function of the call's arguments alone, whatever ran before.
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
            self._set_seed.restype = None
        try:
            self._libc_srand = ctypes.CDLL(None).srand
            self._libc_srand.argtypes = [ctypes.c_uint]
            self._libc_srand.restype = None
        except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
            self._libc_srand = None
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate}) with data at {self.data_path}")
        self.sample_rate = int(rate)
        self.lib = lib
        self._chunks: list[np.ndarray] = []
        self._words: list[WordTiming] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: ctypes must not free it
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None
        self._voice_ok: dict[str, bool] = {}

    def close(self) -> None:
        """Terminate espeak and unload the library, so that loading it again starts from scratch."""
        try:
            self.lib.espeak_Terminate()
        finally:
            try:
                import _ctypes  # noqa: PLC0415

                _ctypes.dlclose(self.lib._handle)
            except (ImportError, AttributeError, OSError):  # pragma: no cover - non-POSIX platforms
                pass

    def _on_audio(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        if events:
            i = 0
            while True:
                ev = events[i]
                if ev.type == _EVENT_LIST_TERMINATED:
                    break
                if ev.type == _EVENT_WORD:
                    self._words.append(WordTiming(int(ev.text_position) - 1, int(ev.length), int(ev.sample)))
                i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        if voice == self._voice:
            return
        status = self.lib.espeak_SetVoiceByName(voice.encode("utf-8"))
        if status != 0:
            self._voice = None
            raise EspeakError(f"espeak-ng has no voice {voice!r} (status {status}); see available_voices()")
        self._voice = voice

    def synth(self, text: str, voice: str, rate: int, pitch: int, seed: int) -> tuple[np.ndarray, list[WordTiming]]:
        self.set_voice(voice)
        if self._set_seed is not None:
            self._set_seed(int(seed) & 0x7FFFFFFF)
        if self._libc_srand is not None:
            self._libc_srand(int(seed) & 0xFFFFFFFF)
        self.lib.espeak_SetParameter(_PARAM_RATE, int(np.clip(rate, _MIN_RATE, _MAX_RATE)), 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, int(np.clip(pitch, 0, 100)), 0)
        self.lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        self._chunks, self._words = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        status = self.lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakError(f"espeak_Synth failed with status {status}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        words = list(self._words)
        self._chunks, self._words = [], []
        return (audio.astype(np.float32) / 32768.0), words


_LOCK = threading.RLock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def _new_lock_in_child() -> None:  # a fork while another thread held the lock must not deadlock the child
    global _LOCK
    _LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def reset() -> None:
    """Unload libespeak-ng; the next call loads it again and starts from espeak's initial state.

    espeak-ng carries state from one utterance to the next (sample counts drift by a few samples even
    with its random generators seeded), so equal calls give equal audio only after equal histories. Call
    this before a sequence of calls that must give the same bytes wherever it runs (the corpus writer does
    so before every session). It costs a few milliseconds.
    """
    global _ENGINE
    with _LOCK:
        if _ENGINE is not None:
            engine, _ENGINE = _ENGINE, None
            engine.close()


def synthesize_native(
    text: str, voice: str = "en", rate: int = 175, pitch: int = 50, *, trim: bool = True, seed: int = 0
) -> tuple[np.ndarray, list[WordTiming]]:
    """Speak ``text`` at espeak's native rate (:data:`NATIVE_SAMPLE_RATE`).

    Returns float32 mono audio in [-1, 1] and the start of every word espeak reported (sample index into
    the returned audio). ``voice`` is an espeak voice name, optionally with a variant (``"es+f3"``); ``rate``
    is in words per minute (espeak clamps to 80-450); ``pitch`` is 0-100 (50 is the voice's default).
    ``trim`` removes espeak's leading and trailing silence (word positions are shifted to match).
    espeak's random generators are seeded with ``seed`` first; espeak also keeps some state from one call
    to the next, so for byte-identical audio call :func:`reset` before the same sequence of calls.
    """
    if not isinstance(text, str) or not text.strip():
        return np.zeros(0, np.float32), []
    with _LOCK:
        eng = _engine()
        audio, words = eng.synth(text, voice, rate, pitch, seed)
    if trim and audio.size:
        loud = np.flatnonzero(np.abs(audio) > 2e-3)
        if loud.size == 0:
            return np.zeros(0, np.float32), []
        start = max(0, int(loud[0]) - 44)
        stop = min(audio.size, int(loud[-1]) + 1 + 220)
        audio = audio[start:stop]
        words = [WordTiming(w.char_offset, w.length, int(np.clip(w.sample - start, 0, audio.size))) for w in words]
    return np.ascontiguousarray(audio, dtype=np.float32), words


def synthesize(
    text: str, voice: str = "en", rate: int = 175, pitch: int = 50, *, sample_rate: int = SAMPLE_RATE,
    trim: bool = True, seed: int = 0,
) -> np.ndarray:
    """Speak ``text`` and return float32 mono audio at ``sample_rate`` (16 kHz by default), via soxr.

    Arguments as for :func:`synthesize_native` (see there, and :func:`reset`, about determinism).
    """
    import soxr  # noqa: PLC0415

    audio, _ = synthesize_native(text, voice, rate, pitch, trim=trim, seed=seed)
    native = native_sample_rate()
    if audio.size == 0 or sample_rate == native:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, native, sample_rate).astype(np.float32, copy=False)


def native_sample_rate() -> int:
    """The rate espeak-ng synthesises at (initialises the library on first use)."""
    with _LOCK:
        return _engine().sample_rate


def has_voice(voice: str) -> bool:
    """Whether espeak-ng accepts ``voice`` (a language name such as ``"es"``, with an optional ``+variant``)."""
    with _LOCK:
        eng = _engine()
        if voice not in eng._voice_ok:
            try:
                eng.set_voice(voice)
                eng._voice_ok[voice] = True
            except EspeakError:
                eng._voice_ok[voice] = False
        return eng._voice_ok[voice]


def available_voices() -> list[str]:
    """Language voices in the bundled espeak-ng data (file names under ``espeak-ng-data/lang``)."""
    loader = _load_espeakng_loader()
    root = os.path.join(loader.get_data_path(), "lang")
    names: set[str] = set()
    for _dir, _subdirs, files in os.walk(root):
        names.update(f for f in files if not f.startswith("."))
    return sorted(names)
