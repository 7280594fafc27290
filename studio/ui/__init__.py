"""The Gradio page: layout and wiring only; every decision is the studio's (studio.service)."""

from __future__ import annotations

import gradio as gr

from ..errors import StudioError
from ..service import Studio
from . import create, history_tab, jobs, scene_tab, system_tab
from . import formatting as fmt


def build_app(studio: Studio) -> gr.Blocks:
    """Create, History and System tabs over one Studio, whose queue and workers run the jobs."""
    with gr.Blocks(title="Wan Studio", delete_cache=(3600, 6 * 3600)) as app:  # Gradio's copies: hourly, 6 h old
        with gr.Row(elem_id="header"):
            gr.Markdown(f"# Wan Studio\nText to video with Wan2.2 · model: **{studio.spec.title}**")
        if studio.spec.tiny:
            gr.Markdown(
                "**Demo mode: the `tiny` model has random weights, so its videos are an almost flat blue-grey with "
                "faint flicker (the previews: coloured noise). That is the expected result, not a failed decode.** "
                "Everything else is real. For real videos run on a GPU with the weights: "
                "`hf download Wan-AI/Wan2.2-T2V-A14B-Diffusers` then `python app.py --model wan2.2-t2v-a14b`.",
                elem_id="tiny_banner",
            )
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Create", id="create", elem_id="tab_create"):
                made = create.build(studio)
            with gr.Tab("Scenes", id="scenes", elem_id="tab_scenes"):
                scenes = scene_tab.build(studio)
            with gr.Tab("History", id="history", elem_id="tab_history") as history_page:
                past = history_tab.build(studio)
            with gr.Tab("System", id="system", elem_id="tab_system") as system_page:
                system = system_tab.build(studio)

        app.load(past.load, past.inputs, past.outputs, api_visibility="private", show_progress="hidden")
        # Opening the tab shows the history as it is now (jobs end while the page stays open all day).
        history_page.select(past.load, past.inputs, past.outputs, api_visibility="private", show_progress="hidden")
        for shown in (app.load, system_page.select):  # the System tab too says how things are now
            shown(system.load, None, system.report, api_visibility="private", show_progress="hidden")
        # A page that loads finds this browser's (or login's) queued and running jobs and shows the newest.
        def reattach(client: str, request: gr.Request = None) -> tuple[str, str]:
            return create.jobs.reattach(studio, client, request)

        app.load(reattach, made.client_id, [made.client_id, made.current_job], api_visibility="private")
        made.follow_event.then(past.load, past.inputs, past.outputs, api_visibility="private", show_progress="hidden")
        _wire_history_to_create(studio, made, past, tabs)
        # The Create tab's result is what Extend continues (Scenes tab), unless another id is typed there.
        made.current_job.change(lambda job_id: job_id, made.current_job, scenes.extend_job, queue=False,
                                api_visibility="private")
    # Jobs wait in the studio's own queue (bounded per person); Gradio's queue holds only short events and
    # job streams, which never wait (no concurrency limit), so its bound is for floods, not for jobs.
    app.queue(max_size=max(64, 4 * studio.config.max_queue))
    return app


def _wire_history_to_create(studio: Studio, made: create.CreateTab, past: history_tab.HistoryTab, tabs) -> None:
    """"Use these settings" fills the Create tab; "Re-run" does that and generates with the same seed."""
    fields = [*made.inputs[:15], *made.inputs[-2:]]  # prompt .. memory_plan, attention, loras

    def use(job_id: str | None, shown_preset: str):
        if not job_id:
            raise gr.Error("Select a job in the list first.")
        stored = studio.history.get(job_id)["request"]
        values = create.settings_from_request(studio, stored)
        if stored.get("image"):  # everything else of the job is filled in; its start image cannot be
            gr.Warning("Its start image is not in the Create tab, which has no image input. Re-run makes this job "
                       "again with its image; the Scenes tab takes a new one.")
        # keep_settings was set by the event before: the job's preset shows as chosen without its settings replacing
        # the job's. Where the preset does not change, nothing reads the flag: it is cleared here.
        return (*values, values[1] != shown_preset, gr.Tabs(selected="create"))

    def keep(job_id: str | None) -> bool:
        return bool(job_id)

    def choose(button: gr.Button):
        return button.click(keep, past.selected, made.keep_settings, queue=False, api_visibility="private").then(
            use, [past.selected, made.preset], [*fields, made.keep_settings, tabs], api_visibility="private")

    def stored(job_id: str | None, client: str, request: gr.Request = None):
        """Re-run of a job whose settings the Create tab cannot hold (an image-to-video job's start image): its
        stored request is queued as it is and the Create tab follows it; other jobs go the page's way below."""
        job = studio.history.get(job_id) if job_id else None
        if not (job and (job.get("request") or {}).get("image")):
            return False, gr.update(), gr.update()
        try:
            again = studio.rerun(job_id, user=fmt.user_of(request))
        except StudioError as exc:
            raise jobs.refused(studio, exc.kind, str(exc)) from None
        job_id = jobs.submit(studio, again, request, client=client)[0]
        gr.Info(f"Queued again with its start image and seed {again.seed}.")
        return True, job_id, gr.Tabs(selected="create")

    def submit_unless(done: bool, *values, request: gr.Request = None):
        if done:
            return tuple(gr.update() for _ in made.submit_outputs)
        return made.submit_here(*values, request=request)

    done = gr.State(False)
    choose(past.use)
    past.rerun.click(stored, [past.selected, made.client_id], [done, made.current_job, tabs],
                     cancels=[made.follow_event], api_visibility="private").then(
        lambda done, job_id: False if done else bool(job_id), [done, past.selected], made.keep_settings,
        queue=False, api_visibility="private").then(
        lambda done, *a: tuple(gr.update() for _ in (*fields, made.keep_settings, tabs)) if done else use(*a),
        [done, past.selected, made.preset], [*fields, made.keep_settings, tabs], api_visibility="private").then(
        submit_unless, [done, *made.inputs, made.client_id], made.submit_outputs, cancels=[made.follow_event],
        preprocess=False, api_visibility="private",
    )
