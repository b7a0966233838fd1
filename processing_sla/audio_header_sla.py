"""How long an audio file says it is: the duration its header declares, to tell a truncated file from a whole one.

For WAV, libsndfile reports the frames actually present, not those the header declares (a WAV cut to a third of its
bytes reads as a third of its length, with no error), so the RIFF `data` chunk's declared size is read here. For
FLAC, OGG and MP3, `soundfile.info` gives the header's (or stream's) declared frames, and decoding a truncated file
gives fewer (MP3) or fails (FLAC, OGG).
"""

import os
import struct

import soundfile


STREAMING_SIZES = (0, 0xFFFFFFFF)  # placeholders of writers that stream WAV without knowing its length


def declared_seconds(path: str | os.PathLike) -> float | None:
    """The duration the file's header declares, or None when it declares none (or cannot be read)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(12)
        if start[:4] == b"RIFF" and start[8:12] == b"WAVE":
            return _riff_declared_seconds(path)
        info = soundfile.info(path)
    except (OSError, RuntimeError, struct.error):
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def _riff_declared_seconds(path: str) -> float | None:
    """The `data` chunk's declared size in seconds (from the `fmt ` chunk's rate and block size)."""
    rate = block = None
    with open(path, "rb") as handle:
        handle.seek(12)
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"fmt ":
                fields = handle.read(16)
                _, _, rate, _, block = struct.unpack("<HHIIH", fields[:14])
                handle.seek(size - 16 + (size & 1), os.SEEK_CUR)
            elif chunk == b"data":
                if size in STREAMING_SIZES or not rate or not block:
                    return None
                return size / block / rate
            else:
                handle.seek(size + (size & 1), os.SEEK_CUR)


__all__ = ["declared_seconds"]
