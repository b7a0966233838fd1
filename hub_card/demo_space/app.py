"""The sla-phi4 demo Space: scores a speaking test session with the model that `space.json` names.

The app is the package `sla_space` beside this file (a copy of `sla_phi4.space`); the model's own code arrives with
the model through `trust_remote_code`, so nothing of sla-phi4 needs to be installed. `SLA_MODEL` overrides the model
(a Hub repo or a folder).
"""

import json
import os
from pathlib import Path

from sla_space.interface import AppSettings, build_app, launch_options
from sla_space.scorer import load_scorer


SETTINGS = json.loads(Path(__file__).with_name("space.json").read_text(encoding="utf-8"))
MODEL = os.environ.get("SLA_MODEL") or SETTINGS["model"]

demo = build_app(load_scorer(MODEL), AppSettings(model=MODEL, notice=SETTINGS.get("notice")))

if __name__ == "__main__":
    demo.launch(**launch_options())
