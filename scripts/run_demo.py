#!/usr/bin/env python
"""`sla demo` under its former name: `python scripts/run_demo.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
