#!/usr/bin/env python
"""`sla build-tiny` under its former name: `python scripts/build_tiny_checkpoint.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["build-tiny", *sys.argv[1:]]))
