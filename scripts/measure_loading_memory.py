#!/usr/bin/env python
"""`sla measure-loading-memory` under its former name: `python scripts/measure_loading_memory.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["measure-loading-memory", *sys.argv[1:]]))
