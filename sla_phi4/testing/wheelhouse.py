"""A fresh virtual environment built offline from exactly what a requirement list names: wheels are packed from this
interpreter's installed distributions (their own files, as pip installed them), and pip installs the list from them
with `--no-index`, as a clean machine would from PyPI. torch, far too large to pack for a test, is the exception:
`expose` puts only torch and the packages nothing else in the list needs on the new environment's path."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(requirement: Requirement) -> metadata.Distribution:
    """The installed distribution of a requirement: the one that meets its bounds where several are on the path."""
    candidates = list(metadata.distributions(name=requirement.name))
    if not candidates:
        raise metadata.PackageNotFoundError(requirement.name)
    return next((candidate for candidate in candidates
                 if requirement.specifier.contains(candidate.version, prereleases=True)), candidates[0])


def closure(requirements: list[str], stop: tuple[str, ...] = ()) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements need, transitively (markers evaluated, no extras), except
    those named in `stop` (their own requirements still count)."""
    found, pending = {}, [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonical(requirement.name)
        if name in found:
            continue
        distribution = installed(requirement)
        found[name] = distribution
        for text in distribution.requires or []:
            needed = Requirement(text)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                pending.append(needed)
    return {name: distribution for name, distribution in found.items() if name not in stop}


def info_folder(distribution: metadata.Distribution) -> Path:
    return Path(str(distribution.locate_file(""))) / next(
        str(path).split("/")[0] for path in distribution.files if str(path).split("/")[0].endswith(".dist-info"))


def pack_wheel(distribution: metadata.Distribution, folder: Path) -> Path:
    """The distribution's installed files (inside site-packages, without bytecode) as a wheel in `folder`."""
    info = info_folder(distribution)
    tags = [line.split(":", 1)[1].strip().split("-") for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")] or [["py3", "none", "any"]]
    tag = "-".join(".".join(dict.fromkeys(parts[index] for parts in tags)) for index in range(3))
    name = re.sub(r"[-.]+", "_", distribution.metadata["Name"])
    path = folder / f"{name}-{distribution.version}-{tag}.whl"
    site = Path(str(distribution.locate_file("")))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        for file in distribution.files:
            text = str(file)
            if text.startswith("..") or "__pycache__" in text or not (site / text).is_file():
                continue
            wheel.write(site / text, text)
    return path


def top_level_entries(distribution: metadata.Distribution) -> set[str]:
    """The names a distribution puts at the top of site-packages (packages, modules, its dist-info)."""
    return {str(path).split("/")[0] for path in distribution.files if not str(path).startswith("..")
            and "__pycache__" not in str(path)}


def expose(distributions: list[metadata.Distribution], folder: Path) -> Path:
    """A folder of links to the distributions' installed files, for a `.pth` file of another environment."""
    folder.mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        site = Path(str(distribution.locate_file("")))
        for entry in top_level_entries(distribution):
            if not (folder / entry).exists():
                (folder / entry).symlink_to(site / entry)
    return folder


def fresh_environment(root: Path, install_arguments: list[str], shared: tuple[str, ...] = ("torch",)) -> Path:
    """A virtual environment at `root` (no system site-packages) where `pip install --no-index` of
    `install_arguments` (requirement strings, as a model card gives them) ran against packed wheels. The `shared`
    distributions, and what only they need, are linked in instead, after checking that their installed version meets
    the arguments' bounds (pip is not asked to resolve them: torch's own requirements are not installed here as
    pip would want them). Returns its python."""
    requirements = [Requirement(argument) for argument in install_arguments if not argument.startswith("-")]
    packed = closure([str(requirement) for requirement in requirements], stop=shared)
    linked = [installed(requirement) for requirement in requirements if canonical(requirement.name) in shared]
    house = root.parent / f"{root.name}-wheels"
    house.mkdir(parents=True, exist_ok=True)
    for distribution in packed.values():
        pack_wheel(distribution, house)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "shared_from_host.pth").write_text(str(expose(linked, root.parent / f"{root.name}-shared")) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(house),
                    *map(str, requirements)], check=True, capture_output=True, text=True)
    return python


__all__ = ["closure", "expose", "fresh_environment", "installed", "pack_wheel"]
