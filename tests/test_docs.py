"""The README's "Score a session" example runs as written (against a tiny checkpoint)."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def readme_block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_score_a_session_example_runs(tiny_checkpoint, tmp_path):
    code = readme_block("Score a session")
    assert 'folder = "tiny-sla"' in code
    script = tmp_path / "example.py"
    script.write_text(code.replace('folder = "tiny-sla"', f'folder = {str(tiny_checkpoint)!r}'))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=REPO, env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                           "OMP_NUM_THREADS": "1", "HF_HOME": os.environ["HF_HOME"]})
    assert result.returncode == 0, result.stderr[-3000:]
    scores = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert list(scores) == ["P1", "P3", "P4", "P5", "overall"]
    assert all(isinstance(value, float) for value in scores.values())
