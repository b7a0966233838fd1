"""What a checkpoint's remote code needs installed: the packages its `.py` files import (as `trust_remote_code`
will demand them), as one `pip install` line with this package's own version bounds."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from sla_phi4.resources import package_file


REMOTE_CODE_PACKAGES = ("modeling_sla", "processing_sla")
DISTRIBUTION = "sla-phi4"


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _guarded(node: ast.AST, parents: dict) -> bool:
    """Whether an import sits in a `try` whose handlers catch ImportError (optional: remote loading skips it)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
                handler.type is None or "ImportError" in ast.unparse(handler.type) for handler in node.handlers):
            return True
    return False


def imported_modules(source: str) -> set[str]:
    """Top-level names of the absolute, unguarded imports of a Python source."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        if not _guarded(node, parents):
            names.update(module.split(".")[0] for module in modules)
    return names


def code_files(folder: str | Path) -> list[Path]:
    """The remote code of a checkpoint folder; the package's own when the folder holds none yet."""
    files = sorted(Path(folder).glob("*.py"))
    if files:
        return files
    return [path for package in REMOTE_CODE_PACKAGES for path in sorted(package_file(package).glob("*.py"))]


def third_party_modules(files: list[Path]) -> set[str]:
    """Imported top-level modules that are neither the standard library nor files among `files`."""
    local = {path.stem for path in files} | set(REMOTE_CODE_PACKAGES)
    modules = set().union(*(imported_modules(path.read_text(encoding="utf-8")) for path in files))
    return {module for module in modules if module not in local and module not in sys.stdlib_module_names}


def distribution_of(module: str, owners: dict[str, list[str]]) -> str:
    """The distribution that installs `module` (`silero_vad` -> `silero-vad`)."""
    return canonical((owners.get(module) or [module])[0])


def requirement_bounds() -> dict[str, str]:
    """This package's own requirements, by canonical distribution name (`{"transformers": "transformers>=5.0,<6"}`).
    """
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return {}
    bounds = {}
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        text = requirement.split(";")[0].strip()
        name = re.match(r"[A-Za-z0-9_.-]+", text).group(0)
        bounds[canonical(name)] = text.replace(name, canonical(name), 1)
    return bounds


def requirements(folder: str | Path) -> list[str]:
    """The requirements of the folder's remote code, sorted, each with this package's bounds where it has them."""
    owners = metadata.packages_distributions()
    bounds = requirement_bounds()
    distributions = {distribution_of(module, owners) for module in third_party_modules(code_files(folder))}
    return sorted(bounds.get(name, name) for name in distributions)


def install_line(folder: str | Path) -> str:
    """`pip install "a>=1" "b" ...`: what a clean machine needs to run the folder's remote code."""
    return "pip install " + " ".join(f'"{requirement}"' for requirement in requirements(folder))


__all__ = ["code_files", "imported_modules", "install_line", "requirements", "third_party_modules"]
