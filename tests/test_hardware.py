import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.errors import InvalidRequest
from studio.doctor import doctor_report, format_report
from studio.gpus import GpuInfo, host_memory_gb, parse_assume_gpu
from studio.models import MODELS
from studio.planning import FOOTPRINTS, choose_plan

from tests.conftest import subprocess_env

A14B, TI2V = MODELS["wan2.2-t2v-a14b"], MODELS["wan2.2-ti2v-5b"]


def _card(gb: float, cc: tuple[int, int] = (9, 0)) -> GpuInfo:
    return GpuInfo(name=f"{gb} GB card", total_gb=gb, compute_capability=cc)


@pytest.mark.parametrize(
    ("gb", "cc", "resolution", "plan"),
    [
        (24, (8, 9), "720P", "offload+vae-tiling"),  # RTX 4090: one expert alone (26.7 GB) does not fit, nor
        (24, (8, 9), "480P", "offload"),  # an untiled 720P decode (24 GB), which a 480P one (10.4) does
        (40, (8, 0), "720P", "expert-swap"),  # A100 40GB: one expert + 720P activations = 36 GB
        (48, (8, 9), "720P", "expert-swap"),  # L40S / RTX 6000 Ada
        (80, (9, 0), "720P", "expert-swap"),  # H100: resident would need a tiled decode, which costs more
        (80, (8, 0), "480P", "resident"),  # both experts and the text encoder stay (stock measured 75.1 GB)
        (141, (9, 0), "720P", "resident"),  # H200
    ],
)
def test_a14b_plans_for_described_cards(gb, cc, resolution, plan):
    choice = choose_plan(A14B, resolution, _card(gb, cc))
    assert choice.runs and choice.plan == plan
    assert choice.peak_gb_estimate <= choice.budget_gb < gb
    assert 0.7 < choice.relative_speed <= 1.0
    assert f"chosen: {plan}" in choice.arithmetic and "26.7 GB" in choice.arithmetic


def test_expert_swap_meets_its_40_gb_target_at_720p():
    swap = next(a for a in choose_plan(A14B, "720P", _card(80)).alternatives if a["plan"] == "expert-swap")
    assert 34.8 < swap["peak_gb_estimate"] <= 40  # the measured one-expert peak plus one streamed block


def test_ti2v_5b_fits_a_24_gb_card_and_a_small_card_gets_8_bit_weights():
    assert choose_plan(TI2V, "720P", _card(24, (8, 9))).plan == "expert-swap+vae-tiling"
    small = choose_plan(A14B, "720P", _card(11, (8, 6)))  # budget 10 GB: bf16 offload needs 10.2
    assert small.runs and "fp8" in small.plan and "vae-tiling" in small.plan
    assert any("FP8 storage with bf16 math" in note for note in small.notes)  # cc 8.6: no FP8 tensor cores


def test_too_small_or_too_old_cards_do_not_run():
    tiny_card = choose_plan(A14B, "720P", _card(8, (8, 9)))
    assert not tiny_card.runs and tiny_card.plan is None and tiny_card.peak_gb_estimate > 7
    assert "needs about" in tiny_card.notes[0]
    old = choose_plan(A14B, "480P", _card(32, (7, 0)))
    assert not old.runs and "bf16" in old.notes[0]


def test_free_memory_lowers_the_budget():
    busy = GpuInfo(name="shared H100", total_gb=80, compute_capability=(9, 0), free_gb=45)
    assert choose_plan(A14B, "480P", busy).plan == "expert-swap"


def test_parse_assume_gpu():
    gpu = parse_assume_gpu("RTX 4090,24,8.9")
    assert (gpu.name, gpu.total_gb, gpu.compute_capability, gpu.assumed, gpu.fp8) == ("RTX 4090", 24, (8, 9), True, True)
    assert parse_assume_gpu("NVIDIA A100-SXM4, 40GB edition,40,8.0").name == "NVIDIA A100-SXM4, 40GB edition"


@pytest.mark.parametrize("text", ["RTX 4090", "RTX 4090,lots,8.9", "RTX 4090,24,89", ",24,8.9", "X,0.1,9.0", "X,24,1.0"])
def test_parse_assume_gpu_errors_name_the_flag(text):
    with pytest.raises(InvalidRequest, match="--assume-gpu") as error:
        parse_assume_gpu(text)
    assert "NAME,GB,CC" in str(error.value) and "\n" not in str(error.value)


def test_doctor_without_a_gpu_says_what_to_do():
    report = doctor_report(measure=False)
    assert report["gpus"] == [] and "tiny" in report["message"] and "--assume-gpu" in report["message"]
    assert {(p["model"], p["resolution"]) for p in report["plans"]} == {
        (m, r) for m in ("wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b") for r in ("480P", "720P")
    }
    assert all(not p["runs"] and 0 < p["peak_gb_estimate"] <= p["full_speed_gb"] for p in report["plans"])
    text = format_report(report)
    assert "No CUDA GPU" in text
    # Plainly what each model needs, never a table of "runs no · plan -" beside numbers without a plan.
    a14b = next(p for p in report["plans"] if p["model"] == "wan2.2-t2v-a14b" and p["resolution"] == "720P")
    assert (f"wan2.2-t2v-a14b 720P: at least {a14b['peak_gb_estimate']:.0f} GB ({a14b['lightest_plan']})" in text
            and "peak GB" not in text)


def _doctor(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "studio", "doctor", *args], capture_output=True, text=True,
                          env=subprocess_env(tmp_path), timeout=60)


def test_doctor_cli_json_on_this_machine(tmp_path):
    done = _doctor(tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["gpus"] == [] and len(report["plans"]) == 6  # T2V, I2V and TI2V at 480P and 720P
    keys = {"model", "resolution", "runs", "plan", "peak_gb_estimate", "relative_speed", "arithmetic"}
    assert all(keys <= set(p) for p in report["plans"])


def test_doctor_cli_assume_gpu(tmp_path):
    done = _doctor(tmp_path, "--json", "--assume-gpu", "RTX 4090,24,8.9")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["gpus"][0]["name"] == "RTX 4090" and report["gpus"][0]["assumed"]
    a14b_720 = next(p for p in report["plans"] if p["model"] == "wan2.2-t2v-a14b" and p["resolution"] == "720P")
    assert a14b_720["runs"] and a14b_720["plan"] == "offload+vae-tiling" and a14b_720["peak_gb_estimate"] < 23
    text = format_report(doctor_report(assume_gpu="RTX 4090,24,8.9"))
    assert "RTX 4090 (assumed)" in text and "chosen: offload+vae-tiling" in text


def test_doctor_cli_bad_assume_gpu_exits_2_with_one_line(tmp_path):
    done = _doctor(tmp_path, "--assume-gpu", "RTX 4090,24")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--assume-gpu" in done.stderr and "Traceback" not in done.stderr


def test_importing_the_doctor_does_not_touch_cuda(tmp_path):
    code = ("import studio.gpus, studio.planning, studio.doctor, torch; "
            "assert not torch.cuda.is_initialized(); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(tmp_path))
    assert done.stdout.strip() == "ok", done.stderr


def test_host_memory_is_checked_for_loading():
    """A14B needs its bf16 weights on the host (64.5 GB + 8 for the process); +fp8 casting holds the FP8 copies too."""
    a14b = FOOTPRINTS["wan2.2-t2v-a14b"]
    assert a14b.host_gb(fp8=False) == pytest.approx(2 * 26.7 + 10.6 + 0.5 + 8, abs=0.2)
    assert a14b.host_gb(fp8=True) - a14b.host_gb(fp8=False) == pytest.approx(26.7)
    h100 = parse_assume_gpu("H100,80,9.0")
    small = choose_plan(MODELS["wan2.2-t2v-a14b"], "720P", h100, host_gb=64.0)
    assert any("needs about 73 GB of host memory" in n and "has 64 GB" in n for n in small.notes)
    assert not any("host memory" in n for n in choose_plan(MODELS["wan2.2-t2v-a14b"], "720P", h100, host_gb=128.0).notes)
    assert doctor_report(assume_gpu="H100,80,9.0", measure=False)["host_memory_gb"] == pytest.approx(host_memory_gb(), abs=0.1)


# The doctor and the memory plans once imported each other (hardware <-> memory <-> models), some imports
# hidden inside functions to dodge the cycle. Imports inside functions count here too, so hiding one fails.
_STUDIO = Path(__file__).resolve().parent.parent / "studio"
_SPLIT = ("studio.gpus", "studio.planning", "studio.doctor", "studio.layouts", "studio.memory", "studio.models",
          "studio.config")


def _source(module: str) -> Path | None:
    path = _STUDIO.parent.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def _studio_imports(module: str) -> set[str]:
    """The studio modules that `module` imports anywhere in its file: module level, in functions, under TYPE_CHECKING."""
    path = _source(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            where = ".".join(part for part in (base, node.module) if part)
            targets = [where] + [f"{where}.{alias.name}" for alias in node.names]  # `from . import x`: x may be a module
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] == "studio" and _source(t))
    return found - {module}


def _import_graph(starts: tuple[str, ...]) -> dict[str, set[str]]:
    """`starts` and every studio module they reach, each with the studio modules it imports."""
    graph: dict[str, set[str]] = {}
    todo = list(starts)
    while todo:
        module = todo.pop()
        if module not in graph:
            graph[module] = _studio_imports(module)
            todo.extend(graph[module])
    return graph


def _cycle(graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    """One import cycle in `graph` as the modules along it, or None when the graph is a DAG."""
    finished: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in path:
            return path[path.index(module):] + (module,)
        if module in finished:
            return None
        for imported in sorted(graph[module]):
            if found := visit(imported, path + (module,)):
                return found
        finished.add(module)
        return None

    return next((found for module in sorted(graph) if (found := visit(module, ()))), None)


def test_the_doctor_and_the_memory_plans_import_without_a_cycle():
    graph = _import_graph(_SPLIT)
    assert {"studio.gpus", "studio.layouts", "studio.models"} <= graph["studio.planning"]  # the parser sees imports
    assert {"studio.planning", "studio.layouts"} <= graph["studio.memory"]
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ("a", "b", "c", "a")  # the check itself finds one
