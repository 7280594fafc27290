"""The Create tab: prompt, language panel, presets, settings, Generate/Cancel and the live result."""

from __future__ import annotations

import html
import inspect
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from ..errors import InvalidRequest, StudioError
from ..memory import PLANS
from ..models import ModelSpec
from ..presets import PLACEHOLDER, Preset, PresetExists, export_preset, import_preset, save_user_preset, slugify, user_folder
from ..request import check_length, frames_for_seconds, parse_loras
from ..service import Studio
from ..access import browser_secret
from . import formatting as fmt
from . import jobs, lora_panel, queue_panel
from .jobs import NO_PRESET, duration_bounds as _duration_bounds, preset_name as _preset_name

VARIATIONS = 4
SAVE_LABEL = "Save current settings as a preset"
SENT_LABEL = "Sent to the model (editable)"
SENT_EDITED = "Sent to the model: edited by you"
SENT_AS_TYPED = "Sent to the model: your prompt as typed (untick “as typed” to edit)"
ATTENTION_OPTIONS = [
    ("Studio setting", "default"),
    ("Exact (fastest kernel found)", "auto"),
    ("8-bit, ours (faster, ~1 % error)", "int8"),
]


@dataclass
class CreateTab:
    """The components other tabs and tests address; field order of `inputs` is the API's parameter order."""

    inputs: list[gr.components.Component]
    outputs: list[gr.components.Component]
    prompt: gr.Textbox
    preset: gr.Dropdown
    gallery: gr.Gallery
    status: gr.HTML
    current_job: gr.Textbox
    client_id: gr.BrowserState
    follow_event: Any
    keep_settings: gr.State  # set with the preset when the page sets settings and preset together
    submit_here: Callable[..., tuple]  # (inputs..., client id) -> the job shown here and what it changes
    submit_outputs: list[gr.components.Component]


def build(studio: Studio) -> CreateTab:
    spec = studio.spec
    # With logins the page starts with the built-ins; each user's own presets arrive when their page loads.
    presets = [p for p in studio.presets() if p.source == "builtin" or not studio.config.auth]
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
                inputs=[prompt], label="Try", cache_examples=False, examples_per_page=4, elem_id="examples",
            )
            with gr.Group(elem_id="language_panel"):
                language_info = gr.Markdown("Type a prompt: its language is detected as you write.",
                                            elem_id="language_info")
                model_prompt = gr.Textbox(
                    value="", label=SENT_LABEL, lines=2, max_lines=8, elem_id="model_prompt",
                    placeholder="The text the video model will read appears here.",
                )
                restore = gr.Button("Use the automatic text again", size="sm", visible=False, elem_id="model_prompt_restore")
                with gr.Row():
                    as_typed = gr.Checkbox(label="Send my prompt as typed (no translation)", value=False,
                                           elem_id="as_typed")
                language_notice = gr.Markdown(elem_id="language_notice", visible=False)
            auto_prompt = gr.State("")  # the automatic text the shown one started from: differing means edited
            latest_prompt = gr.State("")  # the newest automatic text, kept aside while the user's edit is shown

            gallery = gr.Gallery(
                value=[(str(studio.preset_card(p)), p.title) for p in _carded(presets)], label="Style",
                show_label=False,
                columns=5, height="auto", allow_preview=False, object_fit="cover",
                elem_id="presets", buttons=[], interactive=False,
            )
            with gr.Row(elem_id="preset_row"):
                preset = gr.Dropdown(
                    choices=[(p.title, p.name) for p in presets], value=NO_PRESET, label="Preset",
                    elem_id="preset", scale=1, min_width=160,
                )
                preset_info = gr.Markdown(_preset_text(studio, NO_PRESET), elem_id="preset_info")
            with gr.Row(elem_id="preset_changes_row", visible=False) as changes_row:
                preset_changes = gr.Markdown(elem_id="preset_changes")
                undo = gr.Button("Undo", size="sm", scale=0, min_width=80, elem_id="preset_undo")
            before_preset = gr.State(None)  # the preset and settings a pick replaced, for Undo
            last_preset = gr.State(NO_PRESET)  # the preset the settings were last set from
            # Set with the preset by the page itself (Undo, a save, "Use these settings"): the settings stay as set.
            keep_settings = gr.State(False)

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
                    mode = gr.Radio(**_modes(studio), value="quality", label="Mode", elem_id="mode")
                with gr.Row():
                    memory_plan = gr.Dropdown(["auto", *PLANS], value="auto", label="Memory plan",
                                              elem_id="memory_plan")
                    attention = gr.Dropdown(
                        ATTENTION_OPTIONS, value="default", label="Attention", elem_id="attention",
                        info="Studio setting: exact for quality and turbo (FlashAttention-4 where installed, else "
                             "cuDNN), 8-bit for fast. 8-bit is ours: faster, ~1 % error (BENCHMARKS.md).",
                    )
                loras = lora_panel.build(studio, prompt).loras
            with gr.Accordion("Batch from a file", open=False, elem_id="batch"):
                batch_file = gr.File(label="Drop a .txt (a prompt a line), .csv or .jsonl file: every row becomes a "
                                     "job with the settings above as its defaults", file_types=[".txt", ".csv", ".jsonl"],
                                     elem_id="batch_file", height=90)
                batch_report = gr.Markdown(elem_id="batch_report")
            with gr.Accordion("My presets", open=False, elem_id="my_presets"):
                with gr.Row():
                    save_name = gr.Textbox(label="Name", placeholder="e.g. My neon look", elem_id="preset_save_name")
                    save = gr.Button(SAVE_LABEL, elem_id="preset_save")
                with gr.Row():
                    export = gr.DownloadButton("Export selected preset (JSON)", elem_id="preset_export")
                    upload = gr.File(label="Import a preset (.json, ≤ 64 KiB)", file_types=[".json"],
                                     elem_id="preset_import", height=120)

            with gr.Row(elem_id="actions"):
                run = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                several = gr.Button(f"{VARIATIONS} variations", elem_id="variations_button", scale=2, min_width=120)
                stop = gr.Button("Cancel", variant="stop", elem_id="cancel", scale=1)

        with gr.Column(scale=6, min_width=340, elem_id="output"):
            status = gr.HTML(fmt.status_html("Ready."), label="Status", elem_id="status")
            preview = gr.Image(label="Live preview (while denoising)", type="numpy", format="jpeg",
                               interactive=False, elem_id="preview", buttons=[])
            result = gr.Video(label="Result", elem_id="result", interactive=False, buttons=["download"],
                              autoplay=True, loop=True)
            job_info = gr.Markdown(label="Details", elem_id="job_info")
            panel = queue_panel.build(studio)
            # The job this page shows; hidden, but an API parameter (/follow) and what a reload re-attaches to.
            current_job = gr.Textbox(visible=False, label="job id", elem_id="current_job")
            client_id = gr.BrowserState("", storage_key="wan_studio_client", secret=browser_secret(studio.config.outputs))
            api_submit, api_follow, api_generate = (gr.Button(visible=False) for _ in range(3))

    settings = [model, resolution, duration, fps, steps, guidance, guidance_2, shift, mode]
    inputs = [prompt, preset, model, resolution, duration, negative_prompt, steps, guidance, guidance_2, shift, fps,
              seed, randomize, mode, memory_plan, model_prompt, as_typed, auto_prompt, attention, loras]
    outputs = [status, preview, result, job_info, seed]

    # Language panel: quick, unqueued from the GPU, only the latest edit counts.
    language_inputs = [prompt, preset, as_typed, model_prompt, auto_prompt, loras]
    language_outputs = [language_info, model_prompt, language_notice, auto_prompt, latest_prompt, restore]

    def language(prompt_text: str, preset_name: str, typed: bool, shown: str, auto: str, chosen: str,
                 request: gr.Request = None):
        return _language(studio, prompt_text, preset_name, typed, shown, auto, fmt.user_of(request), chosen)

    # A hand edit is marked as one, and the automatic text comes back only when the user asks for it.
    model_prompt.input(lambda shown, auto: (gr.update(label=SENT_EDITED if shown.strip() != auto.strip() else SENT_LABEL),
                                            gr.update(visible=shown.strip() != auto.strip())),
                       [model_prompt, auto_prompt], [model_prompt, restore], queue=False, show_progress="hidden",
                       api_visibility="private")
    restore.click(lambda latest: (gr.update(value=latest, label=SENT_LABEL), latest, gr.update(visible=False)),
                  latest_prompt, [model_prompt, auto_prompt, restore], queue=False, show_progress="hidden",
                  api_visibility="private")

    for trigger in (prompt.change, as_typed.change, loras.change):  # a LoRA's trigger words stay as typed
        trigger(language, language_inputs, language_outputs, trigger_mode="always_last",
                show_progress="hidden", concurrency_id="language", concurrency_limit=4, api_visibility="private")
    # One event for every setting, and only its latest run counts: a preset that changes five settings at once
    # ends with the summary of all five, never of the first change read alongside stale values.
    # Raw values (preprocess=False): a typed duration out of range is named here, where Gradio's own check would
    # answer with a bare "Error".
    # The mode's own words say what turbo computes with these settings too: the choice sits far below the line.
    gr.on([s.change for s in settings], lambda *a: (_summary(studio, *a), gr.update(info=_mode_info(studio, *a))),
          settings, [summary, mode], trigger_mode="always_last", preprocess=False, show_progress="hidden", queue=False,
          api_visibility="private")

    def my_presets(request: gr.Request = None):
        choices, thumbs = _preset_choices(studio, fmt.user_of(request))
        return gr.update(choices=choices), thumbs

    def export_here(name: str, request: gr.Request = None) -> str:
        return _export(studio, name, fmt.user_of(request))

    gr.on(None, my_presets, [], [preset, gallery], show_progress="hidden", queue=False, api_visibility="private")
    # Read again at each page load: a step-distilled LoRA put in the library since the start turns fast mode on.
    gr.on(None, lambda: gr.update(**_modes(studio)), [], [mode], show_progress="hidden", queue=False,
          api_visibility="private")
    # The export button holds the selected preset's file before it is clicked: a DownloadButton downloads the value
    # it has at the click, so a file made by the click itself would be the previous selection's.
    gr.on(None, export_here, preset, export, show_progress="hidden", queue=False, api_visibility="private")
    # A pick (the dropdown or a card) applies the preset's settings and says what changed, with Undo; a preset set
    # by the page itself after setting `keep_settings` (Undo, "Use these settings") leaves them as they are.
    preset_settings = [negative_prompt, resolution, duration, fps, steps, guidance, guidance_2, shift]

    def preset_changed(name: str, model_name: str, keep: bool, last: str, *current, request: gr.Request = None):
        return _preset_changed(studio, name, model_name, keep, last, current, fmt.user_of(request))

    preset.change(preset_changed, [preset, model, keep_settings, last_preset, *preset_settings],
                  [preset_info, preset_changes, changes_row, before_preset, gallery, keep_settings, last_preset,
                   *preset_settings], show_progress="hidden", queue=False, api_visibility="private")
    gallery.select(_gallery_pick(studio), None, preset, show_progress="hidden", queue=False, api_visibility="private")
    # keep_settings is set by an event of its own before the preset changes: the change event reads session state
    # as the previous event left it, not as the event that changes the preset sets it.
    undo.click(lambda: True, None, keep_settings, queue=False, api_visibility="private").then(
        _undo_preset, before_preset, [preset, keep_settings, changes_row, before_preset, *preset_settings],
        show_progress="hidden", queue=False, api_visibility="private")
    preset.change(language, language_inputs, language_outputs, show_progress="hidden", api_visibility="private")
    model.change(lambda name: _apply_model(studio, name), model,
                 [resolution, duration, steps, guidance, guidance_2, shift, fps], show_progress="hidden",
                 queue=False, api_visibility="private")

    def save_here(*values, request: gr.Request = None):
        return _save_preset(studio, *values, user=fmt.user_of(request))

    def import_here(file: str | None, request: gr.Request = None):
        return _import(studio, file, fmt.user_of(request))

    save.click(save_here, [save_name, preset, negative_prompt, resolution, duration, fps, steps, guidance, guidance_2,
                           shift, model, save], [preset, gallery, save], api_visibility="private")
    # The save button asks before replacing ("Replace “X”?"); a new name is a new question.
    save_name.change(lambda: gr.update(value=SAVE_LABEL, variant="secondary"), None, save, queue=False,
                     show_progress="hidden", api_visibility="private")
    upload.upload(import_here, upload, [preset, gallery, upload], api_visibility="private")

    followers = jobs.Followers()

    def request_of(prompt: str, preset: str = NO_PRESET, model: str = spec.name,
                   resolution: str = _size(spec.default_size), duration: float = default_duration,
                   negative_prompt: str = "", steps: float = spec.steps, guidance_scale: float = spec.guidance_scale,
                   guidance_scale_2: float = spec.guidance_scale_2 or spec.guidance_scale,
                   flow_shift: float = spec.flow_shift, fps: float = spec.fps, seed: float = -1,
                   randomize_seed: bool = True, mode: str = "quality", memory_plan: str = "auto",
                   model_prompt: str = "", as_typed: bool = False, auto_prompt: str = "", attention: str = "default",
                   loras: str = "", request: gr.Request = None):
        return jobs.build_request(studio, prompt, preset, model, resolution, duration, negative_prompt, steps,
                                  guidance_scale, guidance_scale_2, flow_shift, fps, seed, randomize_seed, mode,
                                  memory_plan, model_prompt, as_typed, auto_prompt, attention, loras, http=request)

    # Gradio passes the gr.Request of `request_of`'s signature by position: it is the last of `values`.
    @_parameters_of(request_of)
    def submit(*values) -> str:
        """Queue one video with these settings and return its job id at once (follow it with /follow)."""
        return jobs.submit(studio, request_of(*values), values[-1])[0]

    def follow(job_id: str, request: gr.Request = None) -> Iterator[tuple]:
        """Stream a job's (status, preview, video, details, seed) by id, from its current state to its MP4."""
        yield from jobs.follow(studio, job_id, request, followers)

    @_parameters_of(request_of)
    def generate(*values) -> Iterator[tuple]:
        """Make one video: submit, then follow; streams (status, preview, video, details, seed), ends with the MP4."""
        with followers.holding(jobs.requester(values[-1])):  # a stream place first: no job without its stream
            yield from jobs.stream(studio, submit(*values), values[-1])

    def submit_here(*values, request: gr.Request = None):
        """The page's Generate: queue, then show the job (following starts when current_job changes)."""
        *settings, client = values
        made = jobs.build_request(studio, *settings, http=request)
        job_id = jobs.submit(studio, made, request, client=client)[0]
        return job_id, made.seed, gr.update(value=[], visible=False), []

    def several_here(*values, request: gr.Request = None):
        *settings, client = values
        made = jobs.build_request(studio, *settings, http=request)
        ids = jobs.submit(studio, made, request, client=client, variations=VARIATIONS)
        return ids[0], made.seed, gr.update(visible=True), ids

    def keep(ids: list[str], event: gr.SelectData):
        """"Keep this one": its seed becomes the page's (random seed off), and the page shows it."""
        job = studio.history.get(ids[event.index]) if 0 <= event.index < len(ids) else None
        if job is None:
            return gr.update(), gr.update(), gr.update()
        gr.Info(f"Seed {job['seed']} kept: change the mode or settings and press Generate to make it again.")
        return job["seed"], False, job["id"]

    # Following is cheap waiting: any number at once. A new job shown here stops following the previous one.
    follow_event = current_job.change(follow, current_job, outputs, show_progress="hidden",
                                      concurrency_limit=None, api_name="follow_here", api_visibility="private")
    mine = [*inputs, client_id]
    # preprocess=False: raw values reach the studio, whose errors name the field and the fix (Gradio's
    # own checks say "Value 0 is less than minimum value 1." without saying which value).
    run.click(submit_here, mine, [current_job, seed, panel.variations, panel.variation_ids], cancels=[follow_event],
              preprocess=False, concurrency_limit=None, api_visibility="private")
    several.click(several_here, mine, [current_job, seed, panel.variations, panel.variation_ids],
                  cancels=[follow_event], preprocess=False, concurrency_limit=None, api_visibility="private")
    panel.variations.select(keep, panel.variation_ids, [seed, randomize, current_job], queue=False,
                            api_visibility="private")
    panel.show.click(lambda job_id: job_id or gr.update(), panel.selected, current_job, queue=False,
                     api_visibility="private")
    def cancel_here(job_id: str, request: gr.Request = None) -> str:
        return jobs.cancel(studio, job_id, request)

    def refresh(client: str, ids: list[str], request: gr.Request = None) -> tuple:
        return queue_panel.refresh(studio, client, ids, request)

    stop.click(cancel_here, current_job, status, queue=False, api_visibility="private")
    panel.timer.tick(refresh, [client_id, panel.variation_ids], [panel.table, panel.rows, panel.variations],
                     queue=False, api_visibility="private")

    # The API: /submit returns a job id, /follow streams it, /generate does both (hidden triggers, same widgets).
    api_submit.click(submit, inputs, current_job, api_name="submit", preprocess=False, concurrency_limit=None)
    api_follow.click(follow, current_job, outputs, api_name="follow", concurrency_limit=None)
    api_generate.click(generate, inputs, outputs, api_name="generate", preprocess=False, concurrency_limit=None)

    def cancel_job(job_id: str, request: gr.Request = None) -> str:
        """Cancel a queued or running job by id (with logins: only your own); says what happened."""
        try:
            return studio.cancel(job_id, user=fmt.user_of(request))
        except StudioError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def list_jobs(request: gr.Request = None) -> dict:
        """The queue: running jobs, then queued ones in order with their place and estimated start (seconds);
        `mine` marks the caller's (their login's, else their address's).
        With logins, other users' jobs show without id (an id is what reaches a job's files) or prompt."""
        user, client = jobs.person(request)
        return {"jobs": [job if job["mine"] or user is None else {**job, "id": "", "prompt": "", "batch_id": None}
                         for job in studio.jobs(user=user, client=client)]}

    def batch_here(file: str | None, model: str, resolution: str, duration: float, steps: float, fps: float,
                   as_typed: bool, client: str, request: gr.Request = None):
        if not file:
            return gr.update(), gr.update()
        try:
            return jobs.submit_batch(studio, Path(file), model, resolution, duration, steps, fps, as_typed, client,
                                     request), None
        except gr.Error as exc:  # said beside the drop zone, and the rejected file let go
            return f"⚠ {fmt.plain(exc.message)}", None

    batch_file.upload(batch_here, [batch_file, model, resolution, duration, steps, fps, as_typed, client_id],
                      [batch_report, batch_file], api_visibility="private")
    def list_presets(request: gr.Request = None) -> dict:
        """The presets a /submit or /generate `preset` may name, read now: the built-ins and the caller's own (with
        logins) or everyone's saved ones (without): name, title, description, source, template and settings."""
        return {"presets": [{"name": p.name, "title": p.title, "description": p.description, "source": p.source,
                             "prompt": p.prompt, "negative_prompt": p.negative_prompt, "settings": dict(p.settings)}
                            for p in studio.presets(fmt.user_of(request))]}

    gr.api(list_presets, api_name="presets", concurrency_limit=None)
    gr.api(cancel_job, api_name="cancel", concurrency_limit=None)
    gr.api(list_jobs, api_name="jobs", concurrency_limit=None)
    return CreateTab(inputs, outputs, prompt, preset, gallery, status, current_job, client_id, follow_event,
                     keep_settings, submit_here, [current_job, seed, panel.variations, panel.variation_ids])


def _parameters_of(like: Callable) -> Callable[[Callable], Callable]:
    """Give a `*values` wrapper the named parameters of `like`: Gradio names API parameters from the signature,
    and finds the gr.Request parameter from the type hints."""
    def wrap(fn: Callable) -> Callable:
        fn.__signature__ = inspect.signature(like)
        fn.__annotations__ = {**like.__annotations__, "return": fn.__annotations__.get("return")}
        return fn

    return wrap


def settings_from_request(studio: Studio, request: dict[str, Any]) -> tuple:
    """A stored request back into the Create tab's widgets (prompt .. memory plan, then attention and LoRAs), seed
    fixed."""
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
        lora_panel.lora_text(request.get("loras")),
    )


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _preset_text(studio: Studio, name: str) -> str:
    try:
        return _describe(studio.preset(name or NO_PRESET))
    except StudioError:
        return ""


def _describe(preset: Preset, detail: bool = False) -> str:
    """The preset's title and description; with `detail`, what it adds to the prompt and its negative prompt."""
    text = f"**{fmt.plain(preset.title)}** · {fmt.plain(preset.description)}"
    if detail and preset.prompt.strip() != PLACEHOLDER:
        text += f"  \nTemplate: {fmt.plain(preset.prompt)}"
    if detail and preset.negative_prompt:
        text += f"  \nNegative: {fmt.plain(preset.negative_prompt)}"
    return text


def _language(studio: Studio, prompt: str, preset: str, as_typed: bool, shown: str = "", auto: str = "",
              user: str | None = None, loras: str = ""):
    """The language panel: what the prompt's language is and what the model will read. A hand edit of the text
    sent to the model is kept when the prompt changes (the new automatic text waits behind "Use the automatic
    text again"); sent as typed, the text is shown but not editable, since an edit would be ignored. A prompt over
    the generate bound (MAX_PROMPT_CHARS) is refused here, before anything detects or translates it."""
    edited = not as_typed and bool(str(shown or "").strip()) and str(shown).strip() != str(auto or "").strip()
    if not isinstance(prompt, str) or not prompt.strip():
        return ("Type a prompt: its language is detected as you write.", gr.update(value="", label=SENT_LABEL),
                gr.update(visible=False), "", "", gr.update(visible=False))
    try:
        check_length("prompt", prompt)
        prepared = studio.prepare_prompt(prompt, preset=_preset_name(preset), translate=not as_typed, user=user,
                                         loras=_chosen_loras(loras))
    except StudioError as exc:
        if edited:
            return fmt.plain(exc), gr.update(), gr.update(visible=False), auto, auto, gr.update(visible=True)
        return fmt.plain(exc), gr.update(value="", label=SENT_LABEL), gr.update(visible=False), "", "", gr.update(visible=False)
    notice = gr.update(value=f"⚠ {fmt.plain(prepared['notice'])}" if prepared.get("notice") else "",
                       visible=bool(prepared.get("notice")))
    new = prepared["model_prompt"]
    if edited:
        label = SENT_EDITED if new == auto else f"{SENT_EDITED}; the prompt changed since"
        return (fmt.language_panel(prepared), gr.update(label=label), notice, auto, new, gr.update(visible=True))
    label = SENT_AS_TYPED if as_typed else SENT_LABEL
    return (fmt.language_panel(prepared), gr.update(value=new, label=label, interactive=not as_typed), notice, new, new,
            gr.update(visible=False))


def _chosen_loras(text: str) -> tuple:
    """The LoRAs typed so far, for their trigger words; a half-typed list counts as none (Generate names its fault)."""
    try:
        return parse_loras(text)
    except StudioError:
        return ()


def _summary(studio: Studio, model, resolution, duration, fps, steps, guidance, guidance_2, shift,
             mode="quality") -> str:
    """The settings line, or what is wrong with a typed duration that the model cannot make."""
    try:
        spec = studio.spec_for(model)
        width, height = fmt.parse_size(resolution)
        fps, seconds = int(float(fps)), float(duration)
        if not 3 <= seconds * fps <= spec.max_frames + 2:  # the bound Generate applies (jobs._frames)
            shortest, longest, _ = _duration_bounds(spec, fps)
            # Named in the line itself (an unqueued event shows no toast), in the words of Generate's refusal.
            return (f"⚠ Duration {fmt.plain(duration)} s: {spec.name} makes {shortest:g} to {longest:g} s at {fps} "
                    "fps. Fix: choose a duration in that range.")
        line = fmt.settings_summary(spec, width, height, frames_for_seconds(seconds, fps, spec.max_frames), fps,
                                    int(float(steps)), float(guidance),
                                    float(guidance_2) if spec.two_experts else None, float(shift))
        if mode == "turbo":  # its cost is fixed before the job: say it where the settings are read
            try:
                line += f" · turbo: {studio.turbo_description(model, int(float(steps)), float(shift))}"
            except StudioError:
                pass  # a bad step count or shift: Generate names it; the rest of the line still holds
        return line
    except (StudioError, ValueError, TypeError, OverflowError):
        return ""


def _gallery_pick(studio: Studio):
    def pick(event: gr.SelectData, request: gr.Request = None) -> str:
        shown = _carded(studio.presets(fmt.user_of(request)))
        return shown[event.index].name if 0 <= event.index < len(shown) else NO_PRESET

    return pick


def _model_defaults(spec: ModelSpec) -> dict[str, Any]:
    return {
        "frames": spec.default_frames, "fps": spec.fps, "steps": spec.steps,
        "guidance_scale": spec.guidance_scale, "guidance_scale_2": spec.guidance_scale_2 or spec.guidance_scale,
        "flow_shift": spec.flow_shift,
    }


_SETTING_NAMES = ("negative prompt", "resolution", "duration", "fps", "steps", "guidance", "guidance (low noise)",
                  "shift")


def _preset_changed(studio: Studio, name: str, model: str, keep: bool, last: str, current: tuple,
                    user: str | None = None):
    """A preset set by the page with `keep` only updates its description and card; any other is applied."""
    try:
        preset = studio.preset(name or NO_PRESET, user)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    if keep:
        return (_describe(preset, detail=True), "", gr.update(visible=False), None, _card(studio, preset, user),
                False, preset.name, *(gr.update() for _ in _SETTING_NAMES))
    return _apply_preset(studio, preset, model, last, current, user)


def _card(studio: Studio, preset: Preset, user: str | None) -> dict:
    """The gallery with `preset`'s card marked as the selected one (none for a preset without a card)."""
    shown = [p.name for p in _carded(studio.presets(user))]
    return gr.update(selected_index=shown.index(preset.name) if preset.name in shown else None)


def _apply_preset(studio: Studio, preset: Preset, model: str, last: str, current: tuple, user: str | None = None):
    """Model defaults overlaid with the preset's recommendations: every setting it implies becomes visible, the
    line under the preset says which ones changed and from what, and `last` with `current` are kept for Undo."""
    spec = studio.spec_for(model)
    values = {**_model_defaults(spec), **dict(preset.settings)}
    size = (values.pop("width", None), values.pop("height", None))
    size = size if None not in size and size in spec.official_sizes else spec.default_size
    fps = int(values["fps"])
    shortest, longest, _ = _duration_bounds(spec, fps)
    new = (preset.negative_prompt or "", _size(size), round(values["frames"] / fps, 2), fps, values["steps"],
           values["guidance_scale"], values["guidance_scale_2"], values["flow_shift"])
    changes = _changes(spec, current, new)
    return (
        _describe(preset, detail=True),
        f"**{fmt.plain(preset.title)}** changed {changes}." if changes else "",
        gr.update(visible=bool(changes)),
        {"preset": last, "settings": list(current)} if changes else None,
        _card(studio, preset, user), False, preset.name,
        new[0], new[1], gr.update(maximum=longest, minimum=shortest, value=new[2]), *new[3:],
    )


def _changes(spec: ModelSpec, before: tuple, after: tuple) -> str:
    """ "steps 2 → 4 · guidance 7 → 4 · 480P landscape · 832×480 → 720P …": what a preset pick changed."""
    if len(before) != len(after):
        return ""
    said = []
    for name, old, new in zip(_SETTING_NAMES, before, after):
        if name == "guidance (low noise)" and not spec.two_experts:
            continue
        if name == "negative prompt":
            if str(old or "").strip() != str(new or "").strip():
                said.append("negative prompt " + ("replaced" if new else "cleared (the official one is used)"))
        elif name == "resolution":
            if str(old) != str(new):
                said.append(f"{_size_name(spec, old)} → {_size_name(spec, new)}")
        else:
            try:
                differs = abs(float(old) - float(new)) > 1e-9
            except (TypeError, ValueError):
                differs = True
            if differs:
                unit = " s" if name == "duration" else ""
                said.append(f"{name} {fmt.plain(old)}{unit} → {new:g}{unit}")
    return " · ".join(said)


def _size_name(spec: ModelSpec, value: str) -> str:
    try:
        return fmt.size_label(spec, *fmt.parse_size(value)).split(" · ")[0]
    except StudioError:
        return fmt.plain(value)


def _undo_preset(before: dict | None):
    """Back to the preset and settings that the last pick replaced (keep_settings is already set)."""
    if not before:
        return (gr.update(), False, gr.update(visible=False), None, *(gr.update() for _ in _SETTING_NAMES))
    return (before["preset"], gr.update(), gr.update(visible=False), None, *before["settings"])


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


def _preset_choices(studio: Studio, user: str | None = None):
    """The dropdown's and the gallery's presets: the built-ins and `user`'s own (everyone's without logins)."""
    presets = studio.presets(user)
    return ([(p.title, p.name) for p in presets],
            [(str(studio.preset_card(p, user)), p.title) for p in _carded(presets)])


def _modes(studio: Studio) -> dict[str, Any]:
    """The mode choice's options and words as the studio stands now (fast mode only with its LoRA)."""
    has_fast, _ = lora_panel.fast_mode_text(studio)
    return dict(choices=[("Quality", "quality"), ("Turbo (step caching)", "turbo"),
                         *([("Fast (4-step LoRA)", "fast")] if has_fast else [])], info=_mode_info(studio))


def _mode_info(studio: Studio, model=None, resolution=None, duration=None, fps=None, steps=None, guidance=None,
               guidance_2=None, shift=None, mode=None) -> str:
    """The mode choice's words; with the settings given, what turbo computes with them."""
    _, fast_info = lora_panel.fast_mode_text(studio)
    turbo = "Turbo computes a fixed share of the steps in full and cache-dit predicts the rest."
    try:
        if steps is not None and shift is not None:
            turbo = (f"Turbo with these settings: {studio.turbo_description(model, int(float(steps)), float(shift))}"
                     "; cache-dit predicts the rest.")
    except (StudioError, ValueError, TypeError, OverflowError):
        pass  # the settings line names what is wrong
    return f"{fast_info}{turbo} Quality runs every step."


def _carded(presets) -> list[Preset]:
    """The presets the gallery shows, in its order (those with a card): a pick's index means one of these."""
    return [p for p in presets if p.thumbnail]


def _replace_label(title: str) -> str:
    return f"Replace “{title}”?"


def _save_preset(studio: Studio, title, preset, negative, resolution, duration, fps, steps, guidance, guidance_2,
                 shift, model, asked=SAVE_LABEL, *, user: str | None = None):
    """Save the page's settings as one of `user`'s presets. A name they already use is replaced only when asked
    twice: the first click turns the button into "Replace “X”?" (with a warning), the second replaces X."""
    title = " ".join(str(title or "").split())
    if not title:
        raise gr.Error("Preset name is empty. Fix: type a name for your preset, then save.")
    spec = studio.spec_for(model)
    width, height = fmt.parse_size(resolution)
    settings = {"width": width, "height": height, "fps": int(fps), "steps": int(steps),
                "frames": frames_for_seconds(float(duration), int(fps), spec.max_frames),
                "guidance_scale": float(guidance), "flow_shift": float(shift)}
    if spec.two_experts:
        settings["guidance_scale_2"] = float(guidance_2)
    try:
        base = studio.preset(_preset_name(preset) or NO_PRESET, user)

        def save(overwrite: bool):
            return save_user_preset(
                user_folder(studio.user_presets_dir, user), slugify(title), title, base.prompt, negative or None,
                settings, description=f"Saved from {base.title}", overwrite=overwrite,
                reserved={p.name for p in studio.presets(user) if p.source == "builtin"},
            )

        try:
            path = save(overwrite=False)
        except PresetExists as exc:
            if asked != _replace_label(exc.title):
                gr.Warning(f"You already have a preset “{html.escape(exc.title)}”. Click “Replace” to replace it with these "
                           "settings, or type another name.")
                return gr.update(), gr.update(), gr.update(value=_replace_label(exc.title), variant="stop")
            path = save(overwrite=True)
    except (StudioError, OSError) as exc:
        raise gr.Error(str(exc)) from None
    choices, thumbs = _preset_choices(studio, user)
    gr.Info(f"Saved preset “{html.escape(title)}”.")  # toasts render HTML
    # The saved preset becomes the selected one; applying it changes nothing (its settings are the page's).
    return gr.update(choices=choices, value=path.stem), thumbs, gr.update(value=SAVE_LABEL, variant="secondary")


def _export(studio: Studio, name: str, user: str | None = None) -> str:
    """A built-in or one of `user`'s own presets as a JSON file to download."""
    try:
        preset = studio.preset(name or NO_PRESET, user)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    folder = Path(tempfile.mkdtemp(prefix="preset-"))
    path = folder / f"{preset.name}.json"
    path.write_text(export_preset(preset), encoding="utf-8")
    return str(path)


def _import(studio: Studio, file: str | None, user: str | None = None):
    """Store an uploaded preset among `user`'s own; a name they already use is never replaced: the upload is
    stored as "name-2" titled "Title (2)", and a warning says so."""
    if not file:
        return gr.update(), gr.update(), None
    path = Path(file)
    folder = user_folder(studio.user_presets_dir, user)
    reserved = {p.name for p in studio.presets(user) if p.source == "builtin"}
    try:
        if path.stat().st_size > 64 * 1024:
            raise InvalidRequest("preset file", path.name, f"it is {path.stat().st_size:,} bytes; presets are at most "
                                 "64 KiB. Fix: import a preset JSON exported from Wan Studio")
        data = path.read_bytes()
        try:
            preset = import_preset(data, folder, reserved=reserved)
            gr.Info(f"Imported preset “{html.escape(preset.title)}”.")
        except PresetExists as exc:
            preset = import_preset(data, folder, rename=True, reserved=reserved)
            gr.Warning(f"You already have a preset “{html.escape(exc.title)}”, so this one was imported as “{html.escape(preset.title)}”; "
                       "nothing was replaced.")
    except StudioError as exc:
        # Said once and the file let go: a raised error would leave the rejected file stuck in the drop zone.
        gr.Warning(f"Not imported: {html.escape(str(exc))}")
        return gr.update(), gr.update(), None
    choices, thumbs = _preset_choices(studio, user)
    return gr.update(choices=choices, value=preset.name), thumbs, None
