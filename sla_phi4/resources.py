"""Files that ship inside the package (configurations, templates, data), found through `importlib.resources`, so
that an installed wheel reads the same files as a checkout."""

from importlib.resources import files
from pathlib import Path


def package_file(package: str, *names: str) -> Path:
    """The path of `names` inside the installed `package` (e.g. `package_file("sla_phi4.hub_card", "repo_files.json")`).
    Packages install as plain folders (no zip), so the result is a real file system path."""
    return Path(str(files(package).joinpath(*names)))
