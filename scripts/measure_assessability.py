#!/usr/bin/env python
"""`sla measure-assessability` under its former name: `python scripts/measure_assessability.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["measure-assessability", *sys.argv[1:]]))
