#!/usr/bin/env python
"""`sla gpu-check` under its former name: `python scripts/gpu_check.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["gpu-check", *sys.argv[1:]]))
