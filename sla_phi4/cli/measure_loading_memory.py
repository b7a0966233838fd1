"""`sla measure-loading-memory`: the command line of :mod:`sla_phi4.benchmarks.loading_memory`."""

import argparse

from sla_phi4.benchmarks import loading_memory
from sla_phi4.benchmarks.loading_memory import measure_loading_memory


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=loading_memory.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1536,
                        help="decoder width: heads are 128 wide and a multiple of 3 (the real 24:8 grouping)")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--device-map", default="cpu", help="cpu, cuda, auto, or none (no device map)")
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args(argv)
    return measure_loading_memory(args.hidden, args.layers, args.device_map, args.dtype)
