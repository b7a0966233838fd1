"""Running a script where this project's packages cannot be imported: the check that a saved checkpoint's remote
code, and the demo Space's app, stand alone."""

import json
import os
import subprocess
import sys
from pathlib import Path


PROJECT_PACKAGES = ("sla_phi4", "modeling_sla", "processing_sla")
# The first lines of a script run by `run_beside`: the project's packages cannot be imported (an editable install
# would otherwise find them from any folder).
WITHOUT_PROJECT = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in PROJECT_PACKAGES)


def _run(flags: list[str], script_text: str, args, folder: Path, timeout: int) -> dict:
    script = folder / "isolated_script.py"
    script.write_text(script_text)
    result = subprocess.run([sys.executable, *flags, str(script), *map(str, args)], cwd=folder, capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_isolated(script_text: str, *args, folder: Path):
    """Runs `script_text` with `python -I` in `folder` (away from the repo, so this package is importable only if the
    script allows it) and returns the JSON printed on its last line."""
    return _run(["-I"], script_text, args, folder, timeout=300)


def run_beside(script_text: str, *args, folder: Path, timeout: int = 300):
    """Runs `script_text` as a file in `folder` the way a Space runs its `app.py`: `folder` first on the module path
    (so its own packages import), no environment variables or user site read by Python, and this project's packages
    blocked. Returns the JSON printed on its last line."""
    return _run(["-E", "-s"], WITHOUT_PROJECT + script_text, args, folder, timeout)
