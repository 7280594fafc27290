"""Turbo mode: a fixed share of the denoising steps reuses cached work, through cache-dit.

cache-dit (DBCache) runs the first transformer block of every step; on a step its mask marks as
cached, the other 39 blocks are skipped and their residual is predicted by TaylorSeer from the
last fully computed steps. The mask is fixed before the job (cache-dit's named policies: "medium"
computes about 15 of every 28 steps in full) and applied to each expert over its own steps, with a
cache context per expert, so the time a turbo job takes is known before it starts and the UI can
say it. (diffusers' FirstBlockCache, the first turbo, decided per step from a residual threshold:
on random weights it skipped nothing, and its skip rate on the real weights was unknown in advance.)
Quality cost: cache-dit publishes quality figures for FLUX.1-dev, none for Wan2.2 (BENCHMARKS.md quotes
them); random weights cannot measure it. The hooks are attached for a turbo job and removed after it: quality jobs stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jobhooks import JobHook
from . import experts

POLICIES = ("slow", "medium", "fast", "ultra")  # cache-dit's predefined step masks, fewest skipped first
DEFAULT_POLICY = "medium"


def expert_steps(pipe: Any, steps: int, flow_shift: float) -> list[int]:
    """How many of a job's steps each of the pipeline's experts runs."""
    ratio = getattr(pipe.config, "boundary_ratio", None) if len(experts(pipe)) > 1 else None
    return split_steps(pipe.scheduler, ratio, steps, flow_shift)


def split_steps(scheduler: Any, boundary_ratio: float | None, steps: int, flow_shift: float) -> list[int]:
    """Wan2.2's high-noise expert takes the timesteps at or above `boundary_ratio` of the schedule, the low-noise one
    the rest (diffusers' WanPipeline rule); `scheduler` None stands for the Wan2.2 checkpoints' own (UniPC, flow)."""
    if boundary_ratio is None:
        return [steps]
    if scheduler is None:
        from diffusers import UniPCMultistepScheduler

        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            flow_shift=flow_shift)
    elif "flow_shift" in scheduler.config:
        scheduler = type(scheduler).from_config(scheduler.config, flow_shift=flow_shift)
    else:
        scheduler = type(scheduler).from_config(scheduler.config)
    scheduler.set_timesteps(steps)
    boundary = boundary_ratio * scheduler.config.num_train_timesteps
    high = int(sum(1 for t in scheduler.timesteps if t >= boundary))
    return [high, steps - high]


def step_mask(steps: int, policy: str = DEFAULT_POLICY) -> list[int]:
    """cache-dit's mask for `steps` steps: 1 = computed in full, 0 = cached. The last step is always computed; an
    expert with fewer than 8 steps (other than 4 or 6, which cache-dit defines) computes them all."""
    import cache_dit

    if steps < 8 and steps not in (4, 6):  # cache-dit's policies are defined for these short runs only
        return [1] * steps
    mask = list(cache_dit.steps_mask(total_steps=steps, mask_policy=policy))[:steps]
    mask[-1] = 1
    return mask


def turbo_plan(pipe: Any, steps: int, flow_shift: float, policy: str = DEFAULT_POLICY) -> list[list[int]]:
    """The masks a turbo job of `steps` steps will use, one per expert in the order they run."""
    return masks_for(expert_steps(pipe, steps, flow_shift), policy)


def masks_for(split: list[int], policy: str = DEFAULT_POLICY) -> list[list[int]]:
    """One mask per expert with steps, from each expert's share of the steps (`split_steps`)."""
    return [step_mask(n, policy) for n in split if n > 0]


def describe_masks(masks: list[list[int]]) -> str:
    """'22 of 40 steps computed in full (high-noise 9/13, low-noise 13/27)' — what the UI states."""
    total, computed = sum(map(len, masks)), sum(map(sum, masks))
    parts = ", ".join(f"{name} {sum(m)}/{len(m)}" for name, m in zip(("high-noise", "low-noise"), masks))
    return f"{computed} of {total} steps computed in full" + (f" ({parts})" if len(masks) > 1 else "")


@dataclass
class StepCache(JobHook):
    """Attaches cache-dit to the pipeline for jobs whose `mode` is "turbo", and removes it afterwards."""

    policy: str = DEFAULT_POLICY
    last_masks: list[list[int]] = field(default_factory=list)
    _attached: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"turbo policy {self.policy!r} is not one of {', '.join(POLICIES)}")

    def masks(self, pipe: Any, request: Any) -> list[list[int]]:
        """The job's masks, one per expert (the bench fixes its own to time computed and cached steps apart)."""
        return turbo_plan(pipe, request.steps, request.flow_shift, self.policy)

    def on_job_start(self, pipe: Any, request: Any) -> None:
        if getattr(request, "mode", "quality") != "turbo":
            return
        import cache_dit
        from cache_dit import BlockAdapter, DBCacheConfig, ForwardPattern, ParamsModifier, TaylorSeerCalibratorConfig

        if getattr(request, "image", None):  # cache-dit wraps the call of the pipeline the runner will call
            from ..i2v import image_pipeline

            pipe = image_pipeline(pipe)
        masks = self.last_masks = self.masks(pipe, request)
        models = experts(pipe)

        def config(mask: list[int]) -> DBCacheConfig:
            # The mask alone decides (static policy, no warm-up of cache-dit's own): a fixed cost per job.
            return DBCacheConfig(
                Fn_compute_blocks=1, Bn_compute_blocks=0, max_warmup_steps=0, max_cached_steps=-1,
                max_continuous_cached_steps=-1, num_inference_steps=len(mask), steps_computation_mask=mask,
                steps_computation_policy="static", enable_separate_cfg=request.guidance_scale > 1.0,
            )

        # An adapter over the distinct experts (not cache-dit's Wan registration, which takes `transformer_2` as
        # a second model even when it is the first one again), with a cache context and a mask for each.
        adapter = BlockAdapter(
            pipe=pipe, transformer=models, blocks=[m.blocks for m in models],
            forward_pattern=[ForwardPattern.Pattern_2] * len(models), has_separate_cfg=True,
        )
        cache_dit.enable_cache(
            adapter, cache_config=config(masks[0]),
            calibrator_config=TaylorSeerCalibratorConfig(taylorseer_order=1),
            params_modifiers=[ParamsModifier(cache_config=config(m)) for m in masks],
        )
        self._attached.append(pipe)

    def on_job_end(self, pipe: Any) -> None:
        while self._attached:
            import cache_dit

            cache_dit.disable_cache(self._attached.pop())

    def describe(self) -> str:
        masks = f"; last job: {describe_masks(self.last_masks)}" if self.last_masks else ""
        return f"turbo: cache-dit DBCache + TaylorSeer, {self.policy!r} step mask{masks}"
