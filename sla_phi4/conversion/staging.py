"""Folders that appear only complete: written under a hidden name beside the target, then renamed."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def staged_folder(output: Path, error_type: type[Exception]) -> Iterator[Path]:
    """Yields an empty folder beside `output`; renames it to `output` when the block ends without error, and removes
    it otherwise. `output` must not exist; failures raise `error_type` naming it."""
    if output.exists():
        raise error_type(f"{output}: already exists; give a new folder.")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        yield staging
        staging.chmod(0o755)
        try:
            staging.rename(output)
        except OSError as error:
            raise error_type(f"{output}: could not be written ({error}); did another process create it?") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def convert_once(output: Path | None, cached: Path, convert: Callable[[Path], Path],
                 error_type: type[Exception]) -> Path:
    """`convert(output)`; without `output`, the cache folder `cached`, converted unless it is there already (a race
    lost to another process converting it too returns that process's folder)."""
    target = output if output is not None else cached
    if output is None and target.is_dir():
        return target
    try:
        return convert(target)
    except error_type:
        if output is None and target.is_dir():
            return target
        raise


def file_sha256(path: Path, chunk_bytes: int = 1 << 24) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["convert_once", "file_sha256", "staged_folder"]
