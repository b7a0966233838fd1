"""Sharded and resumable scoring, measured in one run (`sla benchmark-scoring`).

    sla benchmark-scoring [--workdir runs/scoring-bench] [--sessions 1000] [--large 10000]

On a synthetic corpus of short answers (TOEFL-like: four answers a session) scored by a tiny checkpoint:
1. one process against two (`torchrun --nproc_per_node 2`, CPU processes with gloo), each process with one thread
   (as torchrun gives them): wall time as a ratio, and the merged files compared byte for byte; and one process with
   two threads, timed only (other thread counts reduce sums in another order: scores differ in the 7th digit);
2. a run killed with SIGKILL at about half way, then started again with the same command: its files compared with
   the uninterrupted run's, the sessions scored by each attempt, and the sessions scored twice (from the report);
3. peak resident memory of scoring `--large` sessions against `--sessions`, each in its own process.
Prints each figure and writes `sharded_scoring.json`.
"""

import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from sla_phi4 import strict_json
from sla_phi4.data.synthetic import make_synthetic_corpus
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint


FORMAT = "toefl-like"
DURATION_SCALE = 0.02  # every answer at its 1.5 s floor: short answers
COMPARED = ("predictions", "eval_report.json")


def score_command(checkpoint: str, corpus: str, output: str, processes: int = 1) -> list[str]:
    """`sla score` of the eval split, without baselines, in one process or under torchrun."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)] \
        if processes > 1 else [sys.executable]
    return [*launcher, "-m", "sla_phi4", "score", "--checkpoint", checkpoint, "--corpus_root", corpus, "--split",
            "eval", "--output_dir", output, "--train_split", ""]


def environment(threads: int = 1) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads)}


def run_measured(command: list[str], log: str, threads: int = 1) -> dict:
    """Runs `command` to its end with `threads` per process; its wall time and (wait4) its peak resident memory."""
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=environment(threads))
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed; see {log}")
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024}


def shard_lines(output: str) -> int:
    folder = os.path.join(output, "shards")
    if not os.path.isdir(folder):
        return 0
    return sum(open(os.path.join(folder, name), "rb").read().count(b"\n") for name in os.listdir(folder)
               if name.endswith(".jsonl"))


def killed_at_half(command: list[str], output: str, sessions: int, log: str) -> int:
    """Starts `command`, SIGKILLs it once half the sessions have a line; returns the lines written then."""
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=environment())
        while process.poll() is None and shard_lines(output) < sessions // 2:
            time.sleep(0.05)
        if process.poll() is not None:
            raise RuntimeError(f"The run ended before half way; see {log}")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return shard_lines(output)


def resumed_counts(log: str) -> tuple[int, int]:
    """What a resumed run said it found already scored, and scored itself."""
    match = re.search(r"(\d+) sessions already scored in .*; scoring the other (\d+)\.", open(log).read())
    if match is None:
        raise RuntimeError(f"{log} does not say what it resumed from.")
    return int(match.group(1)), int(match.group(2))


def same_files(first: str, second: str) -> bool:
    """Whether the prediction files and the reports' metrics are identical."""
    comparison = filecmp.dircmp(os.path.join(first, "predictions"), os.path.join(second, "predictions"))
    if comparison.left_only or comparison.right_only or comparison.diff_files or comparison.funny_files:
        return False
    metrics = [json.load(open(os.path.join(folder, "eval_report.json")))["metrics"] for folder in (first, second)]
    return metrics[0] == metrics[1]


def corpus(workdir: str, sessions: int) -> str:
    folder = os.path.join(workdir, f"corpus-{sessions}")
    if not os.path.isfile(os.path.join(folder, "synthetic-summary.json")):
        shutil.rmtree(folder, ignore_errors=True)
        make_synthetic_corpus(folder, sessions=sessions, seed=0, duration_scale=DURATION_SCALE, test_format=FORMAT,
                              split_shares={"train": 0.01, "dev": 0.01, "eval": 0.98})
    return folder


def run(workdir: str, sessions: int = 1000, large: int = 10000) -> dict:
    os.makedirs(workdir, exist_ok=True)
    checkpoint = os.path.join(workdir, "tiny")
    if not os.path.isfile(os.path.join(checkpoint, "config.json")):
        build_tiny_checkpoint(checkpoint, test_format=FORMAT)
    small, big = corpus(workdir, sessions), corpus(workdir, large)
    eval_sessions = len(open(os.path.join(small, "reference-materials", "sla-marks", "eval-sla-task1.tsv"))
                        .read().splitlines())
    outputs = {name: os.path.join(workdir, name) for name in ("one", "two", "threads", "resumed", "large")}
    for folder in outputs.values():
        shutil.rmtree(folder, ignore_errors=True)
    log = os.path.join(workdir, "{}.log")
    one = run_measured(score_command(checkpoint, small, outputs["one"]), log.format("one"))
    two = run_measured(score_command(checkpoint, small, outputs["two"], 2), log.format("two"))
    threads = run_measured(score_command(checkpoint, small, outputs["threads"]), log.format("threads"), threads=2)
    command = score_command(checkpoint, small, outputs["resumed"])
    before = killed_at_half(command, outputs["resumed"], eval_sessions, log.format("killed"))
    run_measured(command, log.format("resumed"))
    found, scored = resumed_counts(log.format("resumed"))
    report = json.load(open(os.path.join(outputs["resumed"], "eval_report.json")))
    large_run = run_measured(score_command(checkpoint, big, outputs["large"]), log.format("large"))
    result = {
        "corpus": {"format": FORMAT, "duration_scale": DURATION_SCALE, "eval_sessions": eval_sessions,
                   "large_eval_sessions": json.load(open(os.path.join(outputs["large"], "eval_report.json")))
                   ["num_sessions"]},
        "one_process": one, "two_processes": two, "two_over_one_speed": one["seconds"] / two["seconds"],
        "one_process_two_threads": threads,
        "two_processes_identical_files": same_files(outputs["one"], outputs["two"]),
        "killed_after_sessions": before, "resumed_found": found, "resumed_scored": scored,
        "resumed_identical_files": same_files(outputs["one"], outputs["resumed"]),
        "scored_twice": report["scoring"]["scored_twice"],
        "incomplete_lines_repaired": report["scoring"]["incomplete_lines_repaired"],
        "large": large_run, "large_over_small_peak_rss": large_run["peak_rss_mb"] / one["peak_rss_mb"],
    }
    print(format_result(result))
    with open(os.path.join(workdir, "sharded_scoring.json"), "w", encoding="utf-8") as handle:
        strict_json.dump(result, handle, indent=2)
    return result


def format_result(result: dict) -> str:
    corpus_info = result["corpus"]
    return "\n".join([
        f"Scoring {corpus_info['eval_sessions']} {corpus_info['format']} eval sessions of short answers:",
        f"  1 process {result['one_process']['seconds']:.1f} s; 2 processes {result['two_processes']['seconds']:.1f} s "
        f"({result['two_over_one_speed']:.2f}x); identical files: {result['two_processes_identical_files']}; 1 "
        f"process with 2 threads {result['one_process_two_threads']['seconds']:.1f} s",
        f"  killed (SIGKILL) after {result['killed_after_sessions']} sessions, resumed: {result['resumed_scored']} "
        f"scored by the second attempt, {result['scored_twice']} scored twice, "
        f"{result['incomplete_lines_repaired']} incomplete line repaired; identical files: "
        f"{result['resumed_identical_files']}",
        f"  peak RSS: {result['one_process']['peak_rss_mb']:.0f} MB for {corpus_info['eval_sessions']} sessions, "
        f"{result['large']['peak_rss_mb']:.0f} MB for {corpus_info['large_eval_sessions']} "
        f"({result['large_over_small_peak_rss']:.2f}x)",
    ])


__all__ = ["run", "score_command"]
