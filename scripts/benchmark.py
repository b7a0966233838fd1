#!/usr/bin/env python
"""`sla benchmark` under its former name: `python scripts/benchmark.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
