"""The LoRA switch bench (bench/lora_switch.py) runs its whole path on the tiny model on the CPU."""

from __future__ import annotations

import json

from bench import lora_switch


def test_lora_switch_bench_at_tiny_size(tmp_path):
    assert lora_switch.main(["--tiny", "--ranks", "4", "--runs", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "lora_switch.json").read_text())
    rows = {row["method"]: row for row in result["rows"]}
    assert set(rows) == {"fused", "adapters"} and all(row["rank"] == 4 for row in rows.values())
    for row in rows.values():
        assert row["apply_s"] > 0 and row["switch_s"] > 0 and row["step_s"] > 0 and row["factor_gb"] > 0
    assert rows["fused"]["left_after_remove_bf16_steps"] <= 3.0  # apply, switch, remove: one BF16 rounding each
    assert rows["adapters"]["left_after_remove_bf16_steps"] == 0.0  # adapters never touch the weights
