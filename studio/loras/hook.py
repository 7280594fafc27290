"""The job hook that gives each job its own LoRAs (`GenerationRequest.loras`) and takes them off after."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from ..jobhooks import JobHook
from ..speed import experts
from . import fusion
from .files import check_fits, load_factors
from .library import Application, LoraLibrary
from .shapes import module_linears

OWNER = "job"


@dataclass
class JobLoras(JobHook):
    """Before each job: the request's LoRAs applied, each part checked against the loaded expert's shapes;
    parts the previous job also had stay as they are. `adapters`: always as adapters (FP8 linears are on:
    they quantize the weights at the first job, after which nothing fused could come out again)."""

    library: LoraLibrary
    adapters: bool = False
    last: fusion.SyncReport = field(default_factory=fusion.SyncReport)

    def on_job_start(self, pipe: Any, request: Any) -> None:
        loras = tuple(getattr(request, "loras", ()) or ())
        if not loras and not fusion.applied(pipe, OWNER):
            return
        models = experts(pipe)
        applications = self.library.applications(loras, request.model, len(models))
        for app in applications:
            check_fits(app.lora, module_linears(models[min(app.expert, len(models) - 1)]), request.model)
        wanted_parts = [wanted(app) for app in applications]
        self.last = fusion.sync(pipe, OWNER, wanted_parts, adapters=True if self.adapters else None)

    def describe(self) -> str:
        last = self.last
        if not last.linears:
            return "no LoRA applied"
        return f"LoRAs {last.method} into {last.linears} linears (last switch {last.seconds:.2f} s)"


def wanted(app: Application) -> fusion.Wanted:
    """The fusion's request for one application; its key changes when the file is replaced."""
    stat = app.lora.path.stat()
    key = (str(app.lora.path), stat.st_mtime_ns, stat.st_size, app.slot, app.expert)
    return fusion.Wanted(key, app.expert, app.strength, functools.partial(_slot, app))


def _slot(app: Application) -> fusion.Factors:
    return load_factors(app.lora)[app.slot]
