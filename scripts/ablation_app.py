#!/usr/bin/env python
"""`sla ablation` under its former name: `python scripts/ablation_app.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["ablation", *sys.argv[1:]]))
