"""The bench's logic on the CPU: schedule split, composition, the result schema, and both runners at tiny size."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench import compose, e2e, fullsize, levers
from bench.compose import ShortRun
from bench.run import Sections
from studio.jobhooks import JobHook
from studio.speed.attention import AttentionBackend
from studio.speed.compile import RegionalCompile
from studio.speed.fast import FastMode, fast_request
from studio.speed.turbo import StepCache

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def test_expert_split_matches_the_pipeline_boundary():
    assert compose.expert_split(40) == (26, 14)
    assert compose.expert_split(3) == (2, 1)  # the bench's short schedule covers both experts


def test_composition_adds_steady_steps_and_the_measured_extras():
    run = ShortRun(step_seconds=(15.0, 10.0, 12.0), text_s=1.0, decode_s=5.0)
    assert (run.steady_s, run.first_extra_s, run.switch_extra_s) == (10.0, 5.0, 2.0)
    assert compose.compose(run, encode_s=1.5) == pytest.approx(1.0 + 40 * 10.0 + 5.0 + 2.0 + 5.0 + 1.5)
    assert compose.compose(run, 1.5, include_first_extra=False) == pytest.approx(409.5)
    assert compose.per_step_speedup(25.0, 20.0) == 1.25


def _result(**changes):
    result = {key: 1.0 for key in compose.REQUIRED_KEYS}
    result.update(card="NVIDIA H100 80GB HBM3", torch="2.11", diffusers="0.42.1")
    result["methods"] = {key: "measured" for key in compose.FIGURES}
    result.update(changes)
    return result


def test_result_schema_requires_every_key_and_a_method_for_each_figure(tmp_path):
    path = compose.write(_result(turbo_720p_s=None), tmp_path, date(2026, 11, 25))
    assert path.name == "2026-11-25-h100-80gb-hbm3.json"
    assert json.loads(path.read_text())["turbo_720p_s"] is None
    with pytest.raises(ValueError, match="lacks fast_720p_s"):
        compose.validate({k: v for k, v in _result().items() if k != "fast_720p_s"})
    with pytest.raises(ValueError, match="no method given for quality_480p_s"):
        compose.validate(_result(methods={k: "x" for k in compose.FIGURES if k != "quality_480p_s"}))
    with pytest.raises(ValueError, match="non-negative"):
        compose.validate(_result(quality_720p_s="fast"))


def test_committed_results_follow_the_schema():
    """Every `<date>-<card>.json` (other benches' files carry other names)."""
    files = [p for p in sorted(RESULTS.glob("*.json")) if re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.json", p.name)]
    assert files, "no result file committed"
    for path in files:
        compose.validate(json.loads(path.read_text()))


def test_sections_record_failures_and_skips_and_save_json(tmp_path):
    runs = Sections(tmp_path / "part.json", budget_s=3600)
    assert runs.run("works", lambda: {"x": 1}) == {"x": 1}
    assert runs.run("breaks", lambda: 1 / 0) is None
    runs.budget = -1
    runs.run("late", lambda: {"x": 2})
    saved = json.loads((tmp_path / "part.json").read_text())["sections"]
    assert saved["works"]["result"] == {"x": 1}
    assert saved["breaks"]["failed"].startswith("ZeroDivisionError")
    assert saved["late"] == {"skipped": "out of time in this run"}


def test_sections_run_only_the_chosen_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(Sections, "only", ("720p fp8",))
    runs = Sections(tmp_path / "part.json", budget_s=3600)
    assert runs.run("ours 480p exact", lambda: 1) is None
    assert runs.run("ours 720p fp8 linears", lambda: 2) == 2
    assert list(json.loads((tmp_path / "part.json").read_text())["sections"]) == ["ours 720p fp8 linears"]


def test_stock_and_studio_runners_at_tiny_size():
    """The same measurements the GPU bench takes, on the tiny pipeline: stock, quality, fast, turbo."""
    pipe = fullsize.pipeline(torch.device("cpu"), tiny=True)
    size = dict(width=256, height=256, frames=5)
    stock = e2e.stock(pipe, steps=3, **size)
    assert len(stock["step_seconds"]) == 3 and stock["total_s"] > sum(stock["step_seconds"])
    fast = FastMode(lora=e2e.random_lora(pipe.transformer, rank=4))
    hooks = [JobHook(), fast, AttentionBackend("auto"), RegionalCompile(), StepCache()]
    tap = e2e.LatentTap(pipe.vae)
    ours = e2e.ours(pipe, hooks, steps=3, **size)
    exact = tap.latent
    assert len(ours["step_seconds"]) == 3 and ours["previews"] == 3
    assert 0 < ours["first_preview_s"] < ours["timings"]["total"]
    e2e.ours(pipe, hooks, steps=3, mode="turbo", **size)
    tap.close()
    assert exact is not None and tap.latent.shape == exact.shape
    quick = e2e.ours(pipe, hooks, steps=4, mode="fast", prepare=fast_request, **size)
    assert (quick["steps"], quick["guidance"]) == (4, (1.0, 1.0)) and fast.fuse_seconds > 0


def test_encoding_overlapped_with_the_decode_at_tiny_size():
    """The bench row that pits decode-then-encode against the studio's streamed encode: same frames, both timed."""
    cpu = torch.device("cpu")
    pipe = SimpleNamespace(vae=fullsize.vae(cpu, tiny=True), video_processor=levers._video_processor())
    row = levers.overlapped_encode(pipe, torch.randn(fullsize.latent_shape(256, 256, frames=21)), cpu)
    assert row["same_frames"] and row["streamed_frames"] == 21 and "21 frames" in row["what"]
    assert row["seconds"] > 0 and row["decode_then_encode_s"] > 0


def test_full_size_shapes():
    assert fullsize.tokens(1280, 720) == 75_600 and fullsize.tokens(832, 480) == 32_760
    assert fullsize.latent_shape(1280, 720) == (1, 16, 21, 90, 160)


def _part(folder: Path, name: str, sections: dict) -> None:
    env = {"card": "NVIDIA H100 80GB HBM3", "torch": "2.11", "diffusers": "0.42.1"}
    (folder / name).write_text(json.dumps({"environment": env, "sections": {k: {"result": v} for k, v in sections.items()}}))


def test_report_composes_the_session_files(tmp_path):
    """Figures come from the part files as the GPU calls wrote them; a later call's file fills what the first missed."""
    from bench import report

    def ours(steps, text=0.1, decode=8.0, **extra):
        return dict(step_seconds=steps, timings=dict(text=text, decode=decode, total=sum(steps) + decode),
                    preview_cost_ratio=0.001, first_preview_s=steps[0] + text, **extra)

    first, second = tmp_path / "s2", tmp_path / "s1"
    first.mkdir(), second.mkdir()
    _part(first, "quality.json", {
        "stock 720p": dict(step_seconds=[27.0, 25.0], after_last_step_s=9.0),
        "stock 480p": dict(step_seconds=[7.5, 7.0, 7.0], after_last_step_s=4.0),
        "ours 480p exact": ours([15.0, 5.0, 5.0], decode=3.0),
        "ours 720p exact": ours([26.0, 20.0]),
        "ours 720p int8 attention": ours([30.0, 19.0]),
        "ours 720p fp8 linears": ours([99.0, 18.0]),
    })
    _part(first, "quality-2.json", {"ours 720p fp8 linears + int8 attention": ours([99.0, 16.0])})
    # a later call: 8-bit and FP8 runs each against their own call's stock run
    _part(first, "quality-720p.json", {
        "stock 720p": dict(step_seconds=[27.0, 24.0], after_last_step_s=9.0),
        "ours 720p int8 attention": ours([30.0, 20.0]),
        "ours 720p fp8 linears + int8 attention": ours([99.0, 16.0]),
    })
    _part(first, "quality-480p.json", {
        "stock 480p": dict(step_seconds=[7.5, 6.0, 6.0], after_last_step_s=4.0),
        "ours 480p fp8 linears + int8 attention": ours([99.0, 4.0, 4.0], decode=3.0),
    })
    _part(first, "modes.json", {"fast 720p": dict(first_job=ours([30.0, 10.0, 10.0, 10.0]),
                                                   int8=ours([11.0, 10.0, 10.0, 10.0], decode=6.0),
                                                   cudnn=ours([20.0, 11.0, 11.0, 11.0]))})
    (first / "studio-fast-compile.json").write_text(json.dumps({"plans": [dict(
        plan="expert-swap", status="done", cap_gb=None, step_seconds=[30.0, 10.0], seconds=90.0,
        warm_jobs=[dict(seconds=52.0, timings=dict(encode=5.0))])]}))
    (first / "memory_plans-1.json").write_text(json.dumps({"plans": [
        dict(plan="expert-swap", status="done", cap_gb=40.0, step_seconds=[20.0, 12.0], peak_allocated_gb=30.0),
        dict(plan="expert-swap", status="done", cap_gb=None, step_seconds=[13.0, 12.0], peak_allocated_gb=35.0),
    ]}))
    _part(second, "levers.json", {"vae and mp4": [dict(what="VAE decode", seconds=8.0), dict(what="MP4 encode", seconds=1.0)]})
    result = report.build([first, second])
    compose.validate(result)
    assert result["quality_720p_s"] == pytest.approx(0.1 + 40 * 20.0 + 8.0 + 1.0 + 1.0)  # + 1 s expert stream-in
    assert result["speedup_vs_stock_per_step"] == 1.25  # the exact path against its own call's stock (25 s)
    assert result["speedup_vs_stock_per_step_8bit"] == 1.2 and result["speedup_vs_stock_per_step_fp8_8bit"] == 1.5
    assert result["fp8_linears_8bit_attention_720p_s"] == pytest.approx(0.1 + 40 * 16.0 + 8.0 + 1.0 + 1.0)
    assert result["quality_720p_peak_gb"] == 35.0  # the uncapped expert-swap job, not the capped one
    assert result["quality_480p_s"] == pytest.approx(0.1 + 40 * 5.0 + 3.0 + 1.0)
    assert result["quality_480p_fp8_8bit_s"] == pytest.approx(0.1 + 40 * 4.0 + 3.0 + 1.0)
    assert result["speedup_vs_stock_per_step_480p_fp8_8bit"] == 1.5 and "quality_480p_8bit_s" not in result
    assert result["fast_720p_s"] == 52.0 and result["turbo_720p_s"] is None  # the warm job through the studio
    # without a job through the studio: the runner's warm 8-bit job + MP4
    (first / "studio-fast-compile.json").unlink()
    assert report.build([first, second])["fast_720p_s"] == pytest.approx(41.0 + 6.0 + 1.0)
    # one call with both sizes and their stock runs takes the place of the per-size files
    _part(first, "quality-8bit.json", {
        "stock 720p": dict(step_seconds=[27.0, 24.0], after_last_step_s=9.0),
        "ours 720p int8 attention": ours([30.0, 15.0]),
        "stock 480p": dict(step_seconds=[7.5, 6.0, 6.0], after_last_step_s=4.0),
        "ours 480p int8 attention": ours([99.0, 4.0, 4.0], decode=3.0),
    })
    result = report.build([first, second])
    assert result["speedup_vs_stock_per_step_8bit"] == 1.6 and result["speedup_vs_stock_per_step_480p_8bit"] == 1.5


def test_memory_plan_bench_runs_warm_fast_jobs_through_the_studio(tmp_path):
    """`bench/memory_plans.py --tiny --mode fast --jobs 2`: the same path the H100 ran, on the CPU; the random
    LoRA is shaped for the experts, so the fast jobs fuse it, take 4 steps and write their MP4s."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STUDIO_COMPILE": "0"}
    done = subprocess.run([sys.executable, str(root / "bench" / "memory_plans.py"), "--tiny", "--runs", "expert-swap@none",
                           "--mode", "fast", "--jobs", "2", "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "memory_plans.json").read_text())
    assert result["mode"] == "fast" and result["jobs"] == 2
    (row,) = result["plans"]
    jobs = [row, *row["warm_jobs"]]
    assert [j["status"] for j in jobs] == ["done", "done"] and all(len(j["step_seconds"]) == 4 for j in jobs)
    assert all(j["timings"]["encode"] > 0 for j in jobs) and len(list(tmp_path.glob("studio/videos/*.mp4"))) == 2


def test_exact_report_composes_each_run_against_its_own_files_stock(tmp_path):
    """Ratios against the stock run of the same file; turbo composed per cache-dit policy from its computed and
    cached steps, on the fastest exact backend's step."""
    import json

    from bench import exact_report

    def ours(backend, steps, mode="quality", **extra):
        return dict(runner="studio PipelineRunner", mode=mode, backend=backend, step_seconds=steps,
                    timings={"text": 0.1, "decode": 6.0}, **extra)

    def write(name, sections):
        data = {"environment": {"card": "NVIDIA H200"},
                "sections": {k: {"result": v, "seconds": 1.0} for k, v in sections.items()}}
        (tmp_path / name).write_text(json.dumps(data))

    stock = dict(runner="stock diffusers WanPipeline", step_seconds=[26.0, 25.0], after_last_step_s=7.0)
    write("a.json", {"stock 720p": stock, "ours 720p cudnn": ours("_native_cudnn", [30.0, 22.0]),
                     "turbo": ours("_native_cudnn", [23.0, 22.5, 0.5, 0.7, 22.5], mode="turbo", mask=[1, 1, 0, 0, 1])})
    write("b.json", {"stock 720p": dict(stock, step_seconds=[26.0, 24.0]), "ours 720p fa4": ours("studio_fa4", [30.0, 20.0])})
    result = exact_report.figures(tmp_path)
    fa4 = next(r for r in result["quality"] if r["backend"] == "studio_fa4")
    assert fa4["speedup"] == pytest.approx(24.0 / 20.0) and fa4["composed_40_steps_s"] == pytest.approx(0.1 + 800 + 6 + 1.25)
    turbo = result["turbo"]
    assert turbo["exact_backend_composed"] == "studio_fa4" and turbo["taylorseer_extra_s"] == pytest.approx(0.5)
    medium = next(p for p in turbo["policies"] if p["policy"] == "medium")
    n = medium["computed_steps"]
    assert medium["composed_40_steps_s"] == pytest.approx(0.1 + n * 20.5 + (40 - n) * 0.6 + 6 + 1.25)
