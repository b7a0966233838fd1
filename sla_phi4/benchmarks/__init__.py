"""Measurements that print ratios from one run: the CPU benchmark, the GPU check at real size, host memory while
loading, and the voice-activity figures behind the assessability thresholds."""
