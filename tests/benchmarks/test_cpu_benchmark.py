"""sla_phi4/benchmarks/cpu_benchmark.py: the analytic FLOP counts, the real-sizes-on-paper table per backbone family, and the shape of
a --quick run's report (not its timings)."""

import json
import math
from types import SimpleNamespace

import pytest


def test_real_flops_match_published_orders_of_magnitude():
    from sla_phi4.benchmarks.cpu_benchmark import REAL_SESSION, flops_per_session, real_configs

    lengths = [seconds for _, seconds in REAL_SESSION]
    flops = flops_per_session(real_configs(), lengths)
    assert flops["whisper_windows"] == 11  # the session's responses packed into 30 s windows
    assert 25e12 < flops["decoder"] < 33e12  # ~7 GFLOP/token over ~4k tokens
    assert 2e12 < flops["conformer"] < 6e12
    assert math.isclose(flops["whisper"] / 11, 2.3e12, rel_tol=0.05)  # Whisper-large-v3 per 30 s window


def test_real_phi4_decoder_has_24_heads_of_128():
    from sla_phi4.analysis.real_size import decoder_flops
    from sla_phi4.benchmarks.cpu_benchmark import REAL_SESSION, flops_per_session, real_configs

    phi4, whisper = real_configs()
    assert (phi4.num_attention_heads, phi4.num_key_value_heads) == (24, 8)
    flops = flops_per_session((phi4, whisper), [seconds for _, seconds in REAL_SESSION], text_tokens=300)
    assert flops["tokens"] == 3768 + 300
    # k and v are 8 heads of 128 (1024 wide), not 8 of 96 as 32 heads would make them
    kv_gain = phi4.num_hidden_layers * 2 * flops["tokens"] * phi4.hidden_size * 2 * (1024 - 768)
    default = SimpleNamespace(hidden_size=3072, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                              intermediate_size=8192)  # the 32 heads the benchmark used to count
    assert flops["decoder"] - decoder_flops(default, flops["tokens"]) == pytest.approx(kv_gain)


def test_paper_only_prints_the_family_table(tmp_path, capsys):
    from sla_phi4.cli.benchmark import main

    output = tmp_path / "paper.json"
    report = main(["--paper-only", "--output", str(output)])
    table = capsys.readouterr().out
    assert set(report) == {"meta", "paper"} and set(report["paper"]["families"]) == {"phi4", "voxtral", "qwen2-audio"}
    assert "Real sizes on paper (301 s session of 13 responses, 300 text tokens" in table
    for family in ("| phi4 |", "| voxtral |", "| qwen2-audio |"):
        assert family in table
    main(["--paper-only", "--backbone", "voxtral", "--text-tokens", "270", "--output", str(output)])
    table = capsys.readouterr().out
    assert "| voxtral | 4,038 (3,768 + 270) |" in table and "| phi4 |" not in table
    with pytest.raises(SystemExit):
        main(["--paper-only", "--backbone", "gemma"])


def test_proportional_tiny_size_keeps_the_real_shares():
    from sla_phi4.benchmarks.cpu_benchmark import (
        REAL_SESSION,
        flops_per_session,
        proportional_tiny_size,
        real_configs,
        shares,
        tiny_configs,
    )

    lengths = [seconds for _, seconds in REAL_SESSION]
    target = shares(flops_per_session(real_configs(), lengths))
    got = shares(flops_per_session(tiny_configs(proportional_tiny_size(lengths=lengths)), lengths))
    for part in target:
        assert abs(got[part] - target[part]) < 0.05, (part, got, target)


@pytest.mark.slow
def test_quick_run_writes_the_table_and_json(tmp_path, capsys):
    from sla_phi4.cli.benchmark import main

    output = tmp_path / "benchmark.json"
    report = main(["--quick", "--output", str(output)])
    table = capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert set(saved) == {"meta", "shares", "processor", "featurizing", "training", "scoring", "long", "paper", "cuda"}
    assert set(report) == set(saved)
    for key in ("real_session_analytic_real_model", "real_session_analytic_tiny_model",
                "bench_session_analytic_tiny_model", "bench_session_measured_tiny_model"):
        assert set(saved["shares"][key]) == {"decoder", "conformer", "whisper"}
        assert math.isclose(sum(saved["shares"][key].values()), 1.0, rel_tol=1e-6)
    assert saved["processor"]["audio_seconds_per_second"] > 0
    featurizing = saved["featurizing"]
    assert featurizing["workers"] == 2 and featurizing["sessions"] == 3
    for key in ("one_core_sessions_per_s", "workers_sessions_per_s", "speedup_workers_vs_one_core"):
        assert featurizing[key] > 0
    assert featurizing["cores_per_8_sessions_per_s"] == pytest.approx(
        8 * featurizing["workers"] / featurizing["workers_sessions_per_s"] + 1)
    for key in ("encoders_every_step_s_per_session", "cached_s_per_session", "speedup_cached_vs_encoders"):
        assert saved["training"][key] > 0
    for key in ("one_at_a_time_sessions_per_s", "batched_sessions_per_s", "speedup_batched_vs_single",
                "padded_sessions_per_s", "speedup_padded_vs_single", "model_only_speedup_batched_vs_single",
                "model_only_speedup_padded_vs_single"):
        assert saved["scoring"][key] > 0
    assert saved["scoring"]["session_batching"] == "per_session"
    assert saved["long"] and {"minutes", "tokens", "total_s", "peak_rss_mb"} <= set(saved["long"][0])
    for row in saved["paper"]["families"].values():
        assert row["h100_floor_3_epochs_cached_h"] < row["h100_floor_3_epochs_uncached_h"]
    for heading in ("Shares of the work", "Processor:", "Featurizing 3 sessions", "Training step", "Scoring", "Long sessions",
                    "Real sizes on paper"):
        assert heading in table
