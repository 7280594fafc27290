"""Monitoring (issue 22): GPU metrics through NVML, job metrics for an operator, and deploy/ checked against a
real Prometheus (Debian's `prometheus` package: /usr/bin/prometheus and /usr/bin/promtool)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from types import SimpleNamespace

import pytest
import yaml
from gradio_client import Client

from studio import gpu_metrics
from studio.events import Done, Notice, Progress, Started
from studio.gpu_metrics import GPU_METRICS, THROTTLE_REASONS, GpuSampler
from studio.metrics import CONDITIONAL_METRICS, Metrics

from tests.conftest import subprocess_env
from tests.e2e.conftest import ROOT, Server

from .conftest import SMALL_UI, fetch, metric_samples

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wan-studio.json"
PROMPT = "zebra-secret walking through misty marshland"  # no word of it may reach a label


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install -y prometheus (Debian's package gives prometheus and promtool)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- GPU metrics -------------------------------------------------------------------------------------------


class FakeNvml:
    """The part of `pynvml` the sampler calls, for two GPUs; GPU 1 reports no power (NVML 'not supported')."""

    class NVMLError_NotSupported(Exception):
        pass

    def __init__(self) -> None:
        self.calls = 0

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H200" if handle == 0 else "NVIDIA L40S"

    def nvmlDeviceGetUtilizationRates(self, handle):
        self.calls += 1
        return SimpleNamespace(gpu=87 if handle == 0 else 0, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=(60 << 30) * (1 - handle), total=141 << 30, free=0)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == 0  # NVML_TEMPERATURE_GPU
        return 71 + handle

    def nvmlDeviceGetPowerUsage(self, handle):
        if handle == 1:
            raise self.NVMLError_NotSupported("Not Supported")
        return 612_345  # milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        if handle == 1:
            raise self.NVMLError_NotSupported("Not Supported")
        return 700_000

    def nvmlDeviceGetClockInfo(self, handle, clock):
        assert clock == 1  # NVML_CLOCK_SM
        return 1980

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return THROTTLE_REASONS["sw_power_cap"] | THROTTLE_REASONS["hw_thermal"] if handle == 0 else 0x1


def _samples(metrics: Metrics) -> dict:
    return metric_samples(metrics.render()[0].decode())


def test_without_nvml_the_gpu_series_are_absent_and_nothing_errors(monkeypatch):
    # This machine: nvidia-ml-py installed, no driver (NVMLError_LibraryNotFound), no GPU.
    metrics = Metrics()
    threads = threading.active_count()
    assert metrics.start_gpu_sampler(interval=0.05) is False
    assert "NVML" in metrics.gpu_sampler.reason and threading.active_count() == threads  # no thread was started
    names = {name for name, _ in _samples(metrics)}
    assert not any(name.startswith(tuple(GPU_METRICS)) for name in names) and "studio_gpu_sample_seconds" not in names
    assert metrics.start_gpu_sampler() is False  # asking again is harmless
    metrics.stop_gpu_sampler()
    # Without the package at all.
    monkeypatch.setattr(gpu_metrics, "load_nvml", lambda: None)
    sampler = GpuSampler()
    assert sampler.start() is False and "nvidia-ml-py is not installed" in sampler.reason
    assert list(sampler.collect()) == []


def test_importing_the_metrics_starts_no_thread(tmp_path):
    code = ("import threading, studio.metrics, studio.gpu_metrics; studio.metrics.Metrics(); "
            "print(threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=subprocess_env(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_gpu_metrics_per_gpu_from_nvml():
    nvml = FakeNvml()
    metrics = Metrics()
    assert metrics.start_gpu_sampler(interval=0.02, nvml=nvml) is True
    try:
        first = nvml.calls
        deadline = time.time() + 10
        while time.time() < deadline and nvml.calls < first + 4:  # the thread samples again and again
            time.sleep(0.01)
        assert nvml.calls >= first + 4
        samples = _samples(metrics)
    finally:
        metrics.stop_gpu_sampler()
    h200, l40s = (("gpu", "0"), ("name", "NVIDIA H200")), (("gpu", "1"), ("name", "NVIDIA L40S"))
    assert samples[("studio_gpu_utilization_ratio", h200)] == 0.87
    assert samples[("studio_gpu_memory_used_bytes", h200)] == 60 << 30
    assert samples[("studio_gpu_memory_total_bytes", l40s)] == 141 << 30
    assert samples[("studio_gpu_temperature_celsius", l40s)] == 72
    assert samples[("studio_gpu_power_watts", h200)] == pytest.approx(612.345)
    assert samples[("studio_gpu_power_limit_watts", h200)] == 700
    assert ("studio_gpu_power_watts", l40s) not in samples  # not supported there: absent, not 0
    assert samples[("studio_gpu_sm_clock_hertz", h200)] == 1.98e9
    throttled = {dict(labels)["reason"] for (name, labels), value in samples.items()
                 if name == "studio_gpu_throttle" and dict(labels)["gpu"] == "0" and value == 1}
    assert throttled == {"sw_power_cap", "hw_thermal"}
    assert samples[("studio_gpu_throttle", (*l40s, ("reason", "gpu_idle")))] == 1
    assert 0 < samples[("studio_gpu_sample_seconds", ())] < 0.05
    assert 0 <= samples[("studio_gpu_sample_age_seconds", ())] < 5
    labels = {key for (name, labels) in samples if name.startswith("studio_gpu_") for key, _ in labels}
    assert labels <= {"gpu", "name", "reason"}


def test_the_cost_of_a_sampling_pass(capsys):
    """What one pass costs in Python here: with NVML absent (the default on this machine) and over a fake NVML
    of 8 GPUs (our own overhead; the driver's calls come on top and are measured on a GPU machine, see README)."""
    absent = Metrics()
    started = time.perf_counter()
    absent.start_gpu_sampler()
    absent_s = time.perf_counter() - started

    class EightGpus(FakeNvml):
        def nvmlDeviceGetCount(self):
            return 8

        def nvmlDeviceGetHandleByIndex(self, index):
            return index % 2

    sampler = GpuSampler(nvml=EightGpus())
    assert sampler.open()
    passes = 200
    started = time.perf_counter()
    for _ in range(passes):
        sampler.sample()
    per_pass = (time.perf_counter() - started) / passes
    scrape_started = time.perf_counter()
    for _ in range(passes):
        list(sampler.collect())
    per_collect = (time.perf_counter() - scrape_started) / passes
    with capsys.disabled():
        print(f"\nGPU sampler cost here: start with NVML absent {absent_s * 1e3:.2f} ms (once); one pass over 8 fake "
              f"GPUs {per_pass * 1e6:.0f} µs; rendering its series {per_collect * 1e6:.0f} µs")
    assert absent_s < 0.5 and per_pass < 0.01 and per_collect < 0.01


# --- job metrics -------------------------------------------------------------------------------------------


class _History:
    def __init__(self, rows):
        self.rows = rows

    def get(self, job_id):
        return self.rows.get(job_id)


def test_job_metrics_from_a_jobs_events():
    metrics = Metrics()
    metrics.watch(history=_History({"j1": {"created": 100.0, "started": 112.5}}))
    request = {"model": "wan2.2-t2v-a14b", "width": 1280, "height": 720, "mode": "turbo", "prompt": PROMPT}
    prompt = {"language": "fr", "backend": "marian", "translated": True, "cached": True, "model_prompt": PROMPT}
    metrics.observe(Started("j1", request, prompt, "expert-swap"))
    for step in (1, 2, 2, 3, 4):  # a repeated step is counted once
        metrics.observe(Progress("j1", "denoise", step, 4))
    metrics.observe(Notice("j1", "out of GPU memory with the 'resident' plan; retrying once with 'expert-swap'"))
    metrics.observe(Notice("j1", "the prompt was translated"))
    timings = {"language": 0.01, "text": 0.2, "denoise": 8.0, "decode": 1.0, "encode": 0.1}
    metrics.observe(Done("j1", "/out/j1.mp4", "/out/j1.jpg", "/out/j1.json",
                         {"timings": timings, "seconds": 9.5, "step_seconds": [2.0, 2.0, 2.0, 2.0]}))
    s = _samples(metrics)
    kind = (("mode", "turbo"), ("model", "wan2.2-t2v-a14b"), ("resolution", "720P"))
    assert s[("studio_job_wait_seconds_sum", ())] == 12.5 and s[("studio_job_wait_seconds_count", ())] == 1
    assert s[("studio_denoise_steps_total", kind)] == 4
    assert s[("studio_denoise_steps_per_second", kind)] == 0.5
    assert s[("studio_phase_seconds_sum", tuple(sorted((*kind, ("phase", "denoise")))))] == 8.0
    assert s[("studio_jobs_finished_total", tuple(sorted((*kind, ("status", "done")))))] == 1
    assert s[("studio_oom_fallbacks_total", (("model", "wan2.2-t2v-a14b"), ("resolution", "720P")))] == 1
    assert s[("studio_prompts_total", (("backend", "marian"), ("cache", "hit"), ("language", "fr"),
                                       ("translated", "true")))] == 1
    assert s[("studio_jobs_total", (("status", "done"),))] == 1  # the older series stay as they were
    values = {value for (_, labels) in s for _, value in labels}
    assert not any("/" in value or "zebra" in value for value in values)


def test_unknown_values_become_other_and_a_custom_translator_too():
    metrics = Metrics()
    request = {"model": "/models/my-finetune", "width": 640, "height": 360, "mode": "quality"}
    metrics.observe(Started("j2", request, {"language": "tlh", "backend": "my-backend", "translated": False}, "x"))
    metrics.observe(Started("j3", {**request, "model": "tiny"}, {"language": "en", "backend": "edited by user"}, "x"))
    s = _samples(metrics)
    assert s[("studio_prompts_total", (("backend", "other"), ("cache", "miss"), ("language", "other"),
                                       ("translated", "false")))] == 1
    assert s[("studio_prompts_total", (("backend", "edited"), ("cache", "miss"), ("language", "en"),
                                       ("translated", "false")))] == 1
    assert ("studio_job_wait_seconds_count", ()) in s and s[("studio_job_wait_seconds_count", ())] == 0  # no history


def test_workers_by_state():
    metrics = Metrics()
    threads = SimpleNamespace(count=1, running=lambda: ["j1"])
    processes = SimpleNamespace(count=3, running=lambda: ["j1"], ready=lambda: [101, 102])
    pool = {"now": None}
    metrics.watch(workers=lambda: pool["now"])
    assert not any(name == "studio_workers" for name, _ in _samples(metrics))  # no pool: no series
    pool["now"] = threads
    s = _samples(metrics)
    assert [s[("studio_workers", (("state", state),))] for state in ("busy", "idle", "starting")] == [1, 0, 0]
    pool["now"] = processes
    s = _samples(metrics)
    assert [s[("studio_workers", (("state", state),))] for state in ("busy", "idle", "starting")] == [1, 1, 1]


# --- deploy/ and a real Prometheus -------------------------------------------------------------------------


def test_compose_file_has_the_studio_with_gpus_prometheus_and_grafana():
    """No Docker engine here: the compose file is checked as YAML and by its structure, not started."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"studio", "prometheus", "grafana"}
    devices = services["studio"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert (DEPLOY / services["studio"]["build"]["context"] / services["studio"]["build"]["dockerfile"]).is_file()
    assert "7860:7860" in services["studio"]["ports"]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), volume
            else:
                assert source in compose["volumes"], volume
    targets = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]["static_configs"][0]
    assert targets["targets"] == ["studio:7860"]
    provisioning = DEPLOY / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    provider = yaml.safe_load((provisioning / "dashboards" / "wan-studio.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = {target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel.get("targets", [])}
    assert datasources == {source["uid"]}


def test_promtool_checks_the_rules_their_unit_tests_and_the_config(tmp_path):
    promtool = _tool("promtool")
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                 ["check", "config", "prometheus.yml"]):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=DEPLOY, timeout=60)
        assert out.returncode == 0, f"promtool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {"StudioGpuTooHot", "StudioQueueNotMoving", "StudioHighErrorRate"} <= {rule["alert"] for rule in rules}


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _exported_names(text: str) -> set[str]:
    """Every sample name the studio's families may have, from the scrape's HELP/TYPE lines (labelled families
    that have no child yet, e.g. OOM fallbacks, are listed too)."""
    from prometheus_client.parser import text_string_to_metric_families

    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",), "summary": ("_sum", "_count", "_created")}
    return {family.name + suffix for family in text_string_to_metric_families(text)
            for suffix in suffixes.get(family.type, ("",))}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("monitored"), env={"STUDIO_TRANSLATOR": "none"})
    yield server
    server.stop()


@pytest.fixture
def prometheus(studio, tmp_path):
    """Debian's Prometheus on a free localhost port, with deploy/prometheus.yml pointed at the studio (1 s scrapes)."""
    binary = _tool("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{studio.port}"]
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = open(tmp_path / "prometheus.log", "w")
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while not _ready(url):
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            assert time.time() < deadline, "Prometheus did not start:\n" + (tmp_path / "prometheus.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _ready(url: str) -> bool:
    try:
        return fetch(url + "/-/ready")[0] == 200
    except OSError:  # not listening yet
        return False


def _query(prometheus: str, expr: str) -> list[dict]:
    code, body = fetch(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    reply = json.loads(body)
    assert code == 200 and reply["status"] == "success", f"{expr}: {reply}"
    return reply["data"]["result"]


def _until(what, timeout: float = 30.0):
    deadline = time.time() + timeout
    while True:
        value = what()
        if value or time.time() > deadline:
            return value
        time.sleep(0.5)


def test_prometheus_scrapes_the_studio_after_a_job(studio, prometheus):
    result = Client(studio.url, verbose=False).predict(prompt=PROMPT, api_name="/generate", **SMALL_UI)
    assert "Done" in result[0]
    up = _until(lambda: _query(prometheus, 'up{job="wan-studio"} == 1'))
    assert up, "Prometheus never scraped the studio"
    done = _until(lambda: _query(prometheus, 'studio_jobs_total{job="wan-studio", status="done"} >= 1'))
    assert done, "no finished job in Prometheus"
    kind = 'model="tiny", resolution="other", mode="quality"'
    for expr in (f'studio_phase_seconds_count{{phase="denoise", {kind}}} >= 1', f"studio_denoise_steps_total{{{kind}}} >= 1",
                 f"studio_denoise_steps_per_second{{{kind}}} > 0", 'studio_prompts_total{language="en", backend="none"}',
                 f'studio_jobs_finished_total{{status="done", {kind}}} >= 1', "studio_queue_length == 0"):
        assert _until(lambda: _query(prometheus, expr), 10), f"Prometheus has no {expr}"
    # What app.py hands the metrics at start (`watch`, `start_gpu_sampler`): the history gives wait times,
    # the pool its workers' states; on this machine the GPU sampler finds no NVML and says so once.
    fix = "app.py must call studio.metrics.watch(history=..., workers=...) and studio.metrics.start_gpu_sampler()"
    assert _until(lambda: _query(prometheus, "studio_job_wait_seconds_count >= 1"), 10), fix
    assert _until(lambda: _query(prometheus, 'sum(studio_workers{state=~"busy|idle"}) == 1'), 10), fix
    assert "no GPU metrics: NVML is not available" in studio.logs(), fix
    assert not _query(prometheus, "studio_gpu_utilization_ratio")  # absent without a GPU, and nothing failed
    rules = json.loads(fetch(prometheus + "/api/v1/rules")[1])["data"]["groups"]
    assert {"StudioGpuTooHot", "StudioQueueNotMoving", "StudioHighErrorRate"} <= {
        rule["name"] for group in rules for rule in group["rules"]}
    for expr in _dashboard_queries():  # every dashboard query is valid PromQL for a real Prometheus
        _query(prometheus, expr)
    # No prompt text, file path or user name in any label of any studio series Prometheus holds.
    series = json.loads(fetch(prometheus + "/api/v1/series?" + urllib.parse.urlencode(
        {"match[]": '{job="wan-studio"}'}))[1])["data"]
    values = {value for labels in series for key, value in labels.items() if key not in ("__name__", "instance")}
    words = set(re.findall(r"\w+", PROMPT))
    assert not any(word in value for value in values for word in words)
    assert not any("/" in value or "\\" in value or str(studio.outputs) in value for value in values)


def test_every_dashboard_query_names_a_metric_the_studio_exports(studio):
    code, body = fetch(studio.url + "/metrics")
    assert code == 200
    exported = _exported_names(body.decode())
    for name in CONDITIONAL_METRICS:  # GPU series exist on a GPU machine only; workers once a pool is watched
        exported |= {name}
    queries = _dashboard_queries()
    assert len(queries) >= 20
    for expr in queries:
        names = set(re.findall(r"\bstudio_\w+", expr))
        assert names, f"{expr} names no studio metric"
        assert names <= exported, f"{expr} names {sorted(names - exported)}, which the studio does not export"
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("queue", "throughput", "phase", "utilisation", "memory", "temperature", "power", "fail"):
        assert topic in titles, topic
