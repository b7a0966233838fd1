"""Running a script where this project's packages cannot be imported: the check that a saved checkpoint's remote
code stands alone."""

import json
import os
import subprocess
import sys
from pathlib import Path


def run_isolated(script_text: str, *args, folder: Path):
    """Runs `script_text` with `python -I` in `folder` (away from the repo, so this package is importable only if the
    script allows it) and returns the JSON printed on its last line."""
    script = folder / "isolated_script.py"
    script.write_text(script_text)
    result = subprocess.run([sys.executable, "-I", str(script), *map(str, args)], cwd=folder, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
