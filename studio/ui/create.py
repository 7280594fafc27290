"""The Create tab: prompt, language panel, presets, settings, Generate/Cancel and the live result."""

from __future__ import annotations

import logging
import math
import tempfile
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from ..errors import InvalidRequest, StudioError
from ..events import Cancelled, Done, Failed, Notice, Preview, Progress, Started
from ..memory import PLANS
from ..models import ModelSpec
from ..preview import contact_sheet
from ..presets import Preset, export_preset, import_preset, save_user_preset, slugify
from ..request import cleaning_notice, frames_for_seconds
from ..service import Studio
from ..space import estimate_seconds, gpu_task
from . import formatting as fmt

GPU_QUEUE = "gpu"
NO_PRESET = "none"
ATTENTION_OPTIONS = [
    ("Studio setting", "default"),
    ("Exact (fastest kernel found)", "auto"),
    ("8-bit, ours (faster, ~1 % error)", "int8"),
]
log = logging.getLogger("studio.ui")


@dataclass
class CreateTab:
    """The components other tabs and tests address; field order of `inputs` is the API's parameter order."""

    inputs: list[gr.components.Component]
    outputs: list[gr.components.Component]
    prompt: gr.Textbox
    preset: gr.Dropdown
    gallery: gr.Gallery
    status: gr.HTML
    generate_event: Any
    generate_fn: Callable[..., Iterator[tuple]]


def _duration_bounds(spec: ModelSpec, fps: int) -> tuple[float, float, float]:
    """Slider bounds in seconds, rounded so the slider shows tidy numbers."""
    return round(5 / fps, 2), round(spec.max_frames / fps, 2), round(spec.default_frames / fps, 2)


def build(studio: Studio) -> CreateTab:
    spec = studio.spec
    presets = studio.presets()
    shortest, longest, default_duration = _duration_bounds(spec, spec.fps)

    with gr.Row(equal_height=False, elem_id="create_row"):
        with gr.Column(scale=5, min_width=340, elem_id="compose"):
            prompt = gr.Textbox(
                label="Prompt", lines=4, max_lines=12, elem_id="prompt", autofocus=True,
                placeholder="Describe the shot: subject, scene, light, camera movement. Any language.",
            )
            gr.Examples(
                examples=[["一只白鹤在晨雾弥漫的湖面上展翅起飞，慢动作"],
                          ["A chef flipping a wok in a night market, flames rising, handheld close-up"],
                          ["Un robot marche dans une ville futuriste sous la pluie"],
                          ["赛博朋克 city at night, neon reflections on wet asphalt, 35mm"]],
                inputs=[prompt], label="Try", cache_examples=False, examples_per_page=4,
            )
            with gr.Group(elem_id="language_panel"):
                language_info = gr.Markdown("Type a prompt: its language is detected as you write.",
                                            elem_id="language_info")
                model_prompt = gr.Textbox(
                    value="", label="Sent to the model (editable)", lines=2, max_lines=8, elem_id="model_prompt",
                    placeholder="The text the video model will read appears here.",
                )
                with gr.Row():
                    as_typed = gr.Checkbox(label="Send my prompt as typed (no translation)", value=False,
                                           elem_id="as_typed")
                language_notice = gr.Markdown(elem_id="language_notice", visible=False)
            auto_prompt = gr.State("")

            gallery = gr.Gallery(
                value=[(str(p.thumbnail), p.title) for p in presets if p.thumbnail], label="Style", show_label=False,
                columns=5, height="auto", allow_preview=False, object_fit="cover",
                elem_id="presets", buttons=[], interactive=False,
            )
            with gr.Row(elem_id="preset_row"):
                preset = gr.Dropdown(
                    choices=[(p.title, p.name) for p in presets], value=NO_PRESET, label="Preset",
                    elem_id="preset", scale=1, min_width=160,
                )
                preset_info = gr.Markdown(_preset_text(studio, NO_PRESET), elem_id="preset_info")

            with gr.Row(elem_id="basic_settings"):
                model = gr.Dropdown(choices=[(s.title, s.name) for s in studio.models()], value=spec.name,
                                    label="Model", elem_id="model", min_width=200)
                resolution = gr.Dropdown(choices=fmt.resolution_choices(spec), value=_size(spec.default_size),
                                         label="Resolution", elem_id="resolution", min_width=200,
                                         allow_custom_value=True)
                duration = gr.Slider(round(shortest, 2), round(longest, 2), value=round(default_duration, 2), step=0.05,
                                     label="Duration (s)", elem_id="duration", min_width=200)
            summary = gr.Markdown(
                fmt.settings_summary(spec, *spec.default_size, spec.default_frames, spec.fps, spec.steps,
                                     spec.guidance_scale, spec.guidance_scale_2, spec.flow_shift),
                elem_id="settings_summary",
            )

            with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                negative_prompt = gr.Textbox(
                    value="", label="Negative prompt", lines=2, elem_id="negative_prompt",
                    placeholder="Empty: the official Wan2.2 negative prompt.",
                )
                with gr.Row():
                    steps = gr.Slider(1, 100, value=spec.steps, step=1, label="Steps", elem_id="steps")
                    fps = gr.Slider(8, 30, value=spec.fps, step=1, label="Frames per second", elem_id="fps")
                with gr.Row():
                    guidance = gr.Slider(0, 20, value=spec.guidance_scale, step=0.1,
                                         label="Guidance (high-noise expert)", elem_id="guidance")
                    guidance_2 = gr.Slider(0, 20, value=spec.guidance_scale_2 or spec.guidance_scale, step=0.1,
                                           label="Guidance (low-noise expert)", elem_id="guidance_2",
                                           visible=spec.two_experts)
                    shift = gr.Slider(0.5, 20, value=spec.flow_shift, step=0.5, label="Flow shift", elem_id="shift")
                with gr.Row():
                    seed = gr.Number(value=-1, precision=0, label="Seed", elem_id="seed", minimum=-1)
                    randomize = gr.Checkbox(value=True, label="Random seed each run", elem_id="randomize")
                with gr.Row():
                    mode = gr.Radio(
                        [("Quality", "quality"), ("Turbo (step caching)", "turbo"), ("Fast (4-step LoRA)", "fast")],
                        value="quality", label="Mode", elem_id="mode",
                        info="Fast: 4 steps with a step-distilled LoRA (STUDIO_FAST_LORA), 8-bit attention and a "
                             "BF16 decode. Turbo reuses steps. Quality runs every step.",
                    )
                with gr.Row():
                    memory_plan = gr.Dropdown(["auto", *PLANS], value="auto", label="Memory plan",
                                              elem_id="memory_plan")
                    attention = gr.Dropdown(
                        ATTENTION_OPTIONS, value="default", label="Attention", elem_id="attention",
                        info="Studio setting: exact for quality and turbo, 8-bit for fast. 8-bit is ours: a 720P step "
                             "about 16 % faster than exact on an H100, ~1 % error (BENCHMARKS.md).",
                    )
            with gr.Accordion("My presets", open=False, elem_id="my_presets"):
                with gr.Row():
                    save_name = gr.Textbox(label="Name", placeholder="e.g. My neon look", elem_id="preset_save_name")
                    save = gr.Button("Save current settings as a preset", elem_id="preset_save")
                with gr.Row():
                    export = gr.DownloadButton("Export selected preset (JSON)", elem_id="preset_export")
                    upload = gr.File(label="Import a preset (.json, ≤ 64 KiB)", file_types=[".json"],
                                     elem_id="preset_import", height=80)

            with gr.Row(elem_id="actions"):
                run = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                stop = gr.Button("Cancel", variant="stop", elem_id="cancel", scale=1)

        with gr.Column(scale=6, min_width=340, elem_id="output"):
            status = gr.HTML(fmt.status_html("Ready."), elem_id="status")
            preview = gr.Image(label="Live preview (while denoising)", type="numpy", format="jpeg",
                               interactive=False, elem_id="preview", buttons=[])
            result = gr.Video(label="Result", elem_id="result", interactive=False, buttons=["download"],
                              autoplay=True, loop=True)
            job_info = gr.Markdown(elem_id="job_info")

    settings = [model, resolution, duration, fps, steps, guidance, guidance_2, shift]
    inputs = [prompt, preset, model, resolution, duration, negative_prompt, steps, guidance, guidance_2, shift, fps,
              seed, randomize, mode, memory_plan, model_prompt, as_typed, auto_prompt, attention]
    outputs = [status, preview, result, job_info, seed]

    # Language panel: quick, unqueued from the GPU, only the latest edit counts.
    language_inputs = [prompt, preset, as_typed]
    language_outputs = [language_info, model_prompt, language_notice, auto_prompt]
    for trigger in (prompt.change, as_typed.change):
        trigger(lambda *a: _language(studio, *a), language_inputs, language_outputs, trigger_mode="always_last",
                show_progress="hidden", concurrency_id="language", concurrency_limit=4, api_visibility="private")
    for trigger in (model.change, resolution.change, duration.change, fps.change, steps.change, guidance.change,
                    guidance_2.change, shift.change):
        trigger(lambda *a: _summary(studio, *a), settings, summary, show_progress="hidden", queue=False,
                api_visibility="private")

    gallery.select(_gallery_pick(studio), None, preset, show_progress="hidden", queue=False, api_visibility="private")
    preset.change(
        lambda name, model_name: _apply_preset(studio, name, model_name), [preset, model],
        [preset_info, negative_prompt, resolution, duration, fps, steps, guidance, guidance_2, shift],
        show_progress="hidden", queue=False, api_visibility="private",
    ).then(lambda *a: _language(studio, *a), language_inputs, language_outputs, show_progress="hidden",
           api_visibility="private")
    model.change(lambda name: _apply_model(studio, name), model,
                 [resolution, duration, steps, guidance, guidance_2, shift, fps], show_progress="hidden",
                 queue=False, api_visibility="private")

    save.click(lambda *a: _save_preset(studio, *a),
               [save_name, preset, negative_prompt, resolution, duration, fps, steps, guidance, guidance_2, shift,
                model], [preset, gallery], api_visibility="private")
    export.click(lambda name: _export(studio, name), preset, export, api_visibility="private")
    upload.upload(lambda file: _import(studio, file), upload, [preset, gallery, upload], api_visibility="private")

    def generate(prompt: str, preset: str = NO_PRESET, model: str = spec.name,
                 resolution: str = _size(spec.default_size), duration: float = default_duration,
                 negative_prompt: str = "", steps: float = spec.steps, guidance_scale: float = spec.guidance_scale,
                 guidance_scale_2: float = spec.guidance_scale_2 or spec.guidance_scale,
                 flow_shift: float = spec.flow_shift, fps: float = spec.fps, seed: float = -1,
                 randomize_seed: bool = True, mode: str = "quality", memory_plan: str = "auto",
                 model_prompt: str = "", as_typed: bool = False, auto_prompt: str = "", attention: str = "default",
                 request: gr.Request = None) -> Iterator[tuple]:
        """Make one video; streams (status, preview, video, details, seed) and ends with the MP4."""
        yield from _generate(studio, prompt, preset, model, resolution, duration, negative_prompt, steps,
                             guidance_scale, guidance_scale_2, flow_shift, fps, seed, randomize_seed, mode,
                             memory_plan, model_prompt, as_typed, auto_prompt, attention, http=request)

    def reserve(prompt: str, preset: str = NO_PRESET, model: str = spec.name, resolution: str = "",
                duration: float = default_duration, negative_prompt: str = "", steps: float = spec.steps,
                guidance_scale: float = spec.guidance_scale, *rest, **kwargs) -> float:
        """ZeroGPU reservation for this request (seconds), from its size and steps."""
        try:
            chosen = studio.spec_for(model)
            width, height = fmt.parse_size(resolution)
            frames = frames_for_seconds(float(duration), chosen.fps, chosen.max_frames)
            return estimate_seconds(chosen, width, height, frames, int(steps), float(guidance_scale) > 1)
        except (StudioError, ValueError, TypeError):
            return 60.0

    generate = gpu_task(generate, reserve)
    # preprocess=False: raw values reach the studio, whose errors name the field and the fix (Gradio's
    # own checks say "Value 0 is less than minimum value 1." without saying which value).
    generate_event = run.click(
        generate, inputs, outputs,
        api_name="generate", concurrency_limit=1, concurrency_id=GPU_QUEUE, show_progress="minimal",
        show_progress_on=[status], preprocess=False,
    )
    stop.click(lambda: fmt.status_html("Cancelled: the job stops after the current step; the last preview stays.",
                                       tone="warn"),
               None, status, cancels=[generate_event], queue=False, api_visibility="private")
    return CreateTab(inputs, outputs, prompt, preset, gallery, status, generate_event, generate)


def settings_from_request(studio: Studio, request: dict[str, Any]) -> tuple:
    """A stored request back into the Create tab's widgets (prompt .. memory plan, then attention), seed fixed."""
    spec = studio.spec_for(request.get("model")) if request.get("model") in studio.sources else studio.spec
    fps = int(request.get("fps") or spec.fps)
    return (
        request.get("prompt", ""), request.get("preset") or NO_PRESET, spec.name,
        gr.update(choices=fmt.resolution_choices(spec), value=f"{request.get('width')}x{request.get('height')}"),
        gr.update(maximum=_duration_bounds(spec, fps)[1],
                  value=round(int(request.get("frames") or spec.default_frames) / fps, 2)),
        request.get("negative_prompt") or "", request.get("steps") or spec.steps,
        request.get("guidance_scale") or spec.guidance_scale,
        request.get("guidance_scale_2") or spec.guidance_scale_2 or spec.guidance_scale,
        request.get("flow_shift") or spec.flow_shift, fps, request.get("seed", -1), False,
        request.get("mode") or "quality", request.get("memory_plan") or "auto", request.get("attention") or "default",
    )


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _preset_text(studio: Studio, name: str) -> str:
    try:
        return _describe(studio.preset(name or NO_PRESET))
    except StudioError:
        return ""


def _describe(preset: Preset) -> str:
    return f"**{preset.title}** · {preset.description}"


def _language(studio: Studio, prompt: str, preset: str, as_typed: bool):
    if not (prompt or "").strip():
        return "Type a prompt: its language is detected as you write.", "", gr.update(visible=False), ""
    try:
        prepared = studio.prepare_prompt(prompt, preset=_preset_name(preset), translate=not as_typed)
    except StudioError as exc:
        return str(exc), "", gr.update(visible=False), ""
    notice = prepared.get("notice")
    return (fmt.language_panel(prepared), prepared["model_prompt"],
            gr.update(value=f"⚠ {notice}" if notice else "", visible=bool(notice)), prepared["model_prompt"])


def _summary(studio: Studio, model, resolution, duration, fps, steps, guidance, guidance_2, shift) -> str:
    try:
        spec = studio.spec_for(model)
        width, height = fmt.parse_size(resolution)
        frames = frames_for_seconds(float(duration), int(fps), spec.max_frames)
    except (StudioError, ValueError, TypeError):
        return ""
    return fmt.settings_summary(spec, width, height, frames, int(fps), int(steps), float(guidance),
                                float(guidance_2) if spec.two_experts else None, float(shift))


def _gallery_pick(studio: Studio):
    def pick(event: gr.SelectData) -> str:
        shown = [p for p in studio.presets() if p.thumbnail]
        return shown[event.index].name if 0 <= event.index < len(shown) else NO_PRESET

    return pick


def _model_defaults(spec: ModelSpec) -> dict[str, Any]:
    return {
        "frames": spec.default_frames, "fps": spec.fps, "steps": spec.steps,
        "guidance_scale": spec.guidance_scale, "guidance_scale_2": spec.guidance_scale_2 or spec.guidance_scale,
        "flow_shift": spec.flow_shift,
    }


def _apply_preset(studio: Studio, name: str, model: str):
    """Model defaults overlaid with the preset's recommendations: every setting it implies becomes visible."""
    spec = studio.spec_for(model)
    try:
        preset = studio.preset(name or NO_PRESET)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    values = {**_model_defaults(spec), **dict(preset.settings)}
    size = (values.pop("width", None), values.pop("height", None))
    size = size if None not in size and size in spec.official_sizes else spec.default_size
    fps = int(values["fps"])
    shortest, longest, _ = _duration_bounds(spec, fps)
    return (
        _describe(preset),
        preset.negative_prompt or "",
        _size(size),
        gr.update(maximum=longest, minimum=shortest, value=round(values["frames"] / fps, 2)),
        fps, values["steps"], values["guidance_scale"], values["guidance_scale_2"], values["flow_shift"],
    )


def _apply_model(studio: Studio, name: str):
    spec = studio.spec_for(name)
    shortest, longest, default = _duration_bounds(spec, spec.fps)
    return (
        gr.update(choices=fmt.resolution_choices(spec), value=_size(spec.default_size)),
        gr.update(minimum=shortest, maximum=longest, value=default),
        spec.steps, spec.guidance_scale,
        gr.update(value=spec.guidance_scale_2 or spec.guidance_scale, visible=spec.two_experts),
        spec.flow_shift, spec.fps,
    )


def _preset_name(preset: str | None) -> str | None:
    return None if preset in (None, "", NO_PRESET) else preset


def _preset_choices(studio: Studio):
    presets = studio.presets()
    return ([(p.title, p.name) for p in presets], [(str(p.thumbnail), p.title) for p in presets if p.thumbnail])


def _save_preset(studio: Studio, title, preset, negative, resolution, duration, fps, steps, guidance, guidance_2,
                 shift, model):
    if not (title or "").strip():
        raise gr.Error("Preset name is empty. Fix: type a name for your preset, then save.")
    spec = studio.spec_for(model)
    width, height = fmt.parse_size(resolution)
    settings = {"width": width, "height": height, "fps": int(fps), "steps": int(steps),
                "frames": frames_for_seconds(float(duration), int(fps), spec.max_frames),
                "guidance_scale": float(guidance), "flow_shift": float(shift)}
    if spec.two_experts:
        settings["guidance_scale_2"] = float(guidance_2)
    base = studio.preset(_preset_name(preset) or NO_PRESET)
    try:
        path = save_user_preset(
            studio.user_presets_dir, slugify(title), title.strip(), base.prompt, negative or None, settings,
            description=f"Saved from {base.title}", overwrite=True,
            reserved={p.name for p in studio.presets() if p.source == "builtin"},
        )
    except (StudioError, OSError) as exc:
        raise gr.Error(str(exc)) from None
    choices, thumbs = _preset_choices(studio)
    gr.Info(f"Saved preset “{title.strip()}”.")
    return gr.update(choices=choices, value=path.stem), thumbs


def _export(studio: Studio, name: str) -> str:
    preset = studio.preset(name or NO_PRESET)
    folder = Path(tempfile.mkdtemp(prefix="preset-"))
    path = folder / f"{preset.name}.json"
    path.write_text(export_preset(preset), encoding="utf-8")
    return str(path)


def _import(studio: Studio, file: str | None):
    if not file:
        return gr.update(), gr.update(), None
    path = Path(file)
    try:
        if path.stat().st_size > 64 * 1024:
            raise gr.Error(f"{path.name} is {path.stat().st_size:,} bytes; presets are at most 64 KiB. "
                           "Fix: import a preset JSON exported from Wan Studio.")
        preset = import_preset(path.read_bytes(), studio.user_presets_dir, overwrite=True,
                               reserved={p.name for p in studio.presets() if p.source == "builtin"})
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    choices, thumbs = _preset_choices(studio)
    gr.Info(f"Imported preset “{preset.title}”.")
    return gr.update(choices=choices, value=preset.name), thumbs, None


def _generate(studio: Studio, prompt, preset, model, resolution, duration, negative_prompt, steps, guidance,
              guidance_2, shift, fps, seed, randomize, mode, memory_plan, model_prompt, as_typed, auto_prompt,
              attention="default", http: gr.Request | None = None) -> Iterator[tuple]:
    """Validate, then stream (status, preview, video, details, seed) until the job ends."""
    try:
        spec = studio.spec_for(model)
        width, height = fmt.parse_size(resolution)
        edited = str(model_prompt or "").strip()
        request = studio.request(
            prompt, model=spec.name, preset=_preset_name(preset), width=width, height=height,
            frames=_frames(duration, fps, spec), fps=fps,
            negative_prompt=negative_prompt or None, steps=steps, guidance_scale=guidance,
            guidance_scale_2=guidance_2 if spec.two_experts else None, flow_shift=shift,
            seed=None if randomize is True else seed, mode=mode, memory_plan=memory_plan, attention=attention,
            translate=not as_typed,
            model_prompt=edited if edited and not as_typed and edited != str(auto_prompt or "").strip() else None,
        )
        studio.rate_limit.admit(_requester(http))
        cleaned = cleaning_notice(prompt, request.prompt)
    except StudioError as exc:
        raise _refused(studio, exc.kind, str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise _refused(studio, "invalid_request", f"the request could not be read ({exc}). Fix: check the values "
                       "against the API page (“Use via API” at the bottom of the studio).") from None
    if cleaned:
        gr.Warning(cleaned.capitalize() + ".")
    cancel = threading.Event()
    shown, plan = None, ""
    yield fmt.status_html("Starting…", 0.0), None, None, "", request.seed
    try:
        with closing(studio.generate(request, cancel=cancel, user=fmt.user_of(http))) as events:
            for event in events:
                if isinstance(event, Progress):
                    yield fmt.progress_status(event), shown, None, "", request.seed
                elif isinstance(event, Started):
                    plan = event.plan
                elif isinstance(event, Preview):
                    shown = contact_sheet(event.frames)
                    yield gr.update(), shown, None, "", request.seed
                elif isinstance(event, Notice) and event.source != "language":
                    gr.Warning(event.message)
                elif isinstance(event, Done):
                    s = event.summary
                    details = (f"{fmt.request_summary(request)} · plan `{plan}` · {s['seconds']:.1f} s  \n"
                               f"Sent to the model: {s['model_prompt']}")
                    yield (fmt.status_html(f"Done in {s['seconds']:.1f} s · seed {request.seed}", 1.0, "done"),
                           shown, event.output, details, request.seed)
                elif isinstance(event, Cancelled):
                    yield fmt.status_html(f"Cancelled ({event.message}).", tone="warn"), shown, None, "", request.seed
                elif isinstance(event, Failed):
                    raise gr.Error(event.message, print_exception=False)  # the studio has logged it
    finally:
        cancel.set()


def _refused(studio: Studio, kind: str, message: str) -> gr.Error:
    """A request refused before it became a job: counted, logged in one line, shown to the user without a traceback."""
    studio.metrics.failure(kind)
    log.info("request refused", extra={"kind": kind, "error": message})
    return gr.Error(message, print_exception=False)


def _frames(duration: Any, fps: Any, spec: ModelSpec) -> int:
    """Seconds -> the nearest 4k+1 frame count; a duration the model cannot make is refused, not clamped.

    A bad fps is left to the request, which names it; the duration is then measured at the model's fps.
    """
    rate = fps if _is_number(fps) and 4 <= fps <= 60 else spec.fps
    seconds = duration if _is_number(duration) else math.nan
    if not 3 <= seconds * rate <= spec.max_frames + 2:
        shortest, longest, _ = _duration_bounds(spec, rate)
        raise InvalidRequest(
            "duration", duration, f"{spec.name} makes {shortest:g} to {longest:g} s at {rate:g} fps "
            f"(5 to {spec.max_frames} frames); choose a duration in that range",
        )
    return frames_for_seconds(seconds, rate, spec.max_frames)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _requester(http: gr.Request | None) -> str:
    """Whom the rate limit counts: the login name, else the client's address."""
    client = getattr(http, "client", None)
    return fmt.user_of(http) or getattr(client, "host", None) or "anonymous"

