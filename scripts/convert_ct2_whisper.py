#!/usr/bin/env python
"""`sla convert-whisper` under its former name: `python scripts/convert_ct2_whisper.py --help`."""

import sys

from sla_phi4.cli import main


if __name__ == "__main__":
    sys.exit(main(["convert-whisper", *sys.argv[1:]]))
