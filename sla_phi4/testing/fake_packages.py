"""Installed-looking PyPI distributions for tests of the pinned-package converters (wrong versions, bad files)."""

from pathlib import Path


def fake_distribution(root: Path, name: str, version: str, files: dict[str, Path | bytes]) -> None:
    """An installed distribution `name==version` under `root` (put first on the import path) holding `files`: real
    files (linked) or bytes."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.symlink_to(content)


__all__ = ["fake_distribution"]
