"""GPU metrics through NVML (`nvidia-ml-py`, imported as `pynvml`): what each card does while jobs run.

A `GpuSampler` thread reads every GPU every `interval` seconds and keeps the last reading; its
collector hands that reading to the studio's registry at scrape time, so a scrape never waits on
the driver. Labels are the GPU's NVML index and its product name, nothing else. Without NVML (no
driver, no package, no GPU) the sampler says why once, in `reason`, and the series are absent:
nothing errors. Importing this module starts nothing; `start()` starts the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("studio.metrics")

# NVML's clock event ("throttle") reason bits, as in nvml.h (nvmlClocksEventReason*): stable ABI values.
THROTTLE_REASONS = {
    "gpu_idle": 0x1, "applications_clocks": 0x2, "sw_power_cap": 0x4, "hw_slowdown": 0x8, "sync_boost": 0x10,
    "sw_thermal": 0x20, "hw_thermal": 0x40, "hw_power_brake": 0x80, "display_clocks": 0x100,
}
_NVML_CLOCK_SM, _NVML_TEMPERATURE_GPU = 1, 0

# name -> (help, reading key). Every name here is declared for the dashboard test: a machine without a GPU
# never exports them, so the dashboard's queries are checked against this list.
GPU_METRICS: dict[str, str] = {
    "studio_gpu_utilization_ratio": "Share of the last sample period in which a kernel ran on the GPU (0..1).",
    "studio_gpu_memory_used_bytes": "GPU memory in use, by every process (NVML), in bytes.",
    "studio_gpu_memory_total_bytes": "GPU memory in all, in bytes.",
    "studio_gpu_temperature_celsius": "GPU core temperature in degrees Celsius.",
    "studio_gpu_power_watts": "Power drawn by the board now, in watts.",
    "studio_gpu_power_limit_watts": "Power limit the driver enforces, in watts.",
    "studio_gpu_sm_clock_hertz": "SM (shader) clock now, in hertz.",
    "studio_gpu_throttle": "1 while the GPU's clocks are held down for this reason (NVML clock event reasons), else 0.",
}
GPU_SAMPLER_METRICS: dict[str, str] = {
    "studio_gpu_sample_seconds": "Seconds the last NVML sampling pass over all GPUs took (its cost).",
    "studio_gpu_sample_age_seconds": "Seconds since the last NVML sample; grows when the sampler is stuck.",
}


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one moment; a field the card does not report (NVML 'not supported') is None."""

    index: int
    name: str
    utilization: float | None = None  # 0..1
    memory_used: int | None = None
    memory_total: int | None = None
    temperature: float | None = None
    power: float | None = None  # watts
    power_limit: float | None = None
    sm_clock: float | None = None  # hertz
    throttle: int | None = None  # NVML reason bitmask


@dataclass
class Sample:
    readings: list[GpuReading] = field(default_factory=list)
    at: float = 0.0  # time.monotonic() of the pass
    seconds: float = 0.0  # what the pass cost


def load_nvml() -> ModuleType | None:
    """`pynvml` when the package is installed, else None (the studio runs without GPU metrics)."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


class GpuSampler:
    """Samples every GPU through NVML in a daemon thread; `collect()` yields the last sample's series.

    nvml: the `pynvml` module (tests pass a fake); by default the installed one, or None.
    """

    def __init__(self, interval: float = 5.0, nvml: ModuleType | Any | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._nvml = nvml if nvml is not None else load_nvml()
        self._clock = clock
        self._handles: list[tuple[int, str, Any]] = []
        self._sample: Sample | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reason: str | None = None  # why there are no GPU series, in words; None while there are

    def open(self) -> bool:
        """Initialise NVML and find the GPUs; False (with `reason`) when there is nothing to sample."""
        if self._nvml is None:
            self.reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            return False
        nvml = self._nvml
        try:
            nvml.nvmlInit()
            handles = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = nvml.nvmlDeviceGetName(handle)
                handles.append((index, name.decode() if isinstance(name, bytes) else str(name), handle))
        except Exception as exc:  # NVMLError_LibraryNotFound / DriverNotLoaded on a machine without a GPU
            self.reason = f"NVML is not available: {exc}"
            return False
        if not handles:
            self.reason = "NVML finds no GPU"
            return False
        self._handles, self.reason = handles, None
        return True

    def sample(self) -> Sample:
        """One pass over every GPU, kept as the current sample and returned."""
        started = time.perf_counter()
        readings = [self._read(index, name, handle) for index, name, handle in self._handles]
        sample = Sample(readings, self._clock(), time.perf_counter() - started)
        with self._lock:
            self._sample = sample
        return sample

    def start(self) -> bool:
        """Open NVML and sample in a daemon thread; False when there is no GPU to watch (then no thread)."""
        if self._thread is not None:
            return True
        if not self.open():
            log.info("no GPU metrics: %s", self.reason)
            return False
        self.sample()  # the first scrape already has figures
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self._thread.start()
        log.info("GPU metrics: sampling %d GPU(s) every %.1f s", len(self._handles), self.interval)
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None
        if self._handles:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._handles = []

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a driver hiccup must not end the sampler: the age metric shows a stuck one
                log.exception("GPU sampling failed")

    def _read(self, index: int, name: str, handle: Any) -> GpuReading:
        nvml = self._nvml

        def get(read: Callable[[], Any]) -> Any:
            try:
                return read()
            except Exception:  # NVMLError_NotSupported and the like: that field is absent for this card
                return None

        utilization = get(lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0)
        memory = get(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        power = get(lambda: nvml.nvmlDeviceGetPowerUsage(handle))  # milliwatts
        limit = get(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        clock = get(lambda: nvml.nvmlDeviceGetClockInfo(handle, _NVML_CLOCK_SM))  # MHz
        reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nvml, "nvmlDeviceGetCurrentClocksThrottleReasons")
        return GpuReading(
            index, name, utilization,
            memory_used=None if memory is None else int(memory.used),
            memory_total=None if memory is None else int(memory.total),
            temperature=get(lambda: float(nvml.nvmlDeviceGetTemperature(handle, _NVML_TEMPERATURE_GPU))),
            power=None if power is None else power / 1000.0,
            power_limit=None if limit is None else limit / 1000.0,
            sm_clock=None if clock is None else clock * 1e6,
            throttle=get(lambda: int(reasons(handle))),
        )

    def collect(self) -> Iterator[Metric]:
        """The last sample as metric families (a prometheus_client custom collector); nothing without one."""
        with self._lock:
            sample = self._sample
        if sample is None or not sample.readings:
            return
        labels = ["gpu", "name"]
        values = {
            "studio_gpu_utilization_ratio": lambda r: r.utilization,
            "studio_gpu_memory_used_bytes": lambda r: r.memory_used,
            "studio_gpu_memory_total_bytes": lambda r: r.memory_total,
            "studio_gpu_temperature_celsius": lambda r: r.temperature,
            "studio_gpu_power_watts": lambda r: r.power,
            "studio_gpu_power_limit_watts": lambda r: r.power_limit,
            "studio_gpu_sm_clock_hertz": lambda r: r.sm_clock,
        }
        for metric, value in values.items():
            family = GaugeMetricFamily(metric, GPU_METRICS[metric], labels=labels)
            for reading in sample.readings:
                if (figure := value(reading)) is not None:
                    family.add_metric([str(reading.index), reading.name], figure)
            yield family
        throttle = GaugeMetricFamily("studio_gpu_throttle", GPU_METRICS["studio_gpu_throttle"],
                                     labels=[*labels, "reason"])
        for reading in sample.readings:
            if reading.throttle is not None:
                for reason, bit in THROTTLE_REASONS.items():
                    throttle.add_metric([str(reading.index), reading.name, reason], float(bool(reading.throttle & bit)))
        yield throttle
        yield GaugeMetricFamily("studio_gpu_sample_seconds", GPU_SAMPLER_METRICS["studio_gpu_sample_seconds"],
                                value=sample.seconds)
        yield GaugeMetricFamily("studio_gpu_sample_age_seconds", GPU_SAMPLER_METRICS["studio_gpu_sample_age_seconds"],
                                value=max(0.0, self._clock() - sample.at))

    def describe(self) -> list[Metric]:
        """Nothing at registration time: the registry must not call `collect` before a sample exists."""
        return []
