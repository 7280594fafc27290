"""Command line: `python -m studio generate | batch | jobs | cancel | requeue | history | presets | loras | doctor`.

Bad input exits with code 2 and one line on stderr, never a traceback; `--json` prints exactly
one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from .errors import StudioError

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_CANCELLED = 2, 1, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m studio", description="Wan Studio: text-to-video with Wan2.2.")
    parser.add_argument("--outputs", help="outputs and history folder (default: $STUDIO_OUTPUTS or ./outputs)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = commands.add_parser("generate", help="make one video")
    gen.add_argument("--prompt", required=True)
    _request_options(gen)
    gen.add_argument("--out", help="where to write the MP4 (default: the outputs folder)")
    gen.add_argument("--variations", type=_int("variations"),
                     help="queue 1-16 videos that differ only in seed (--seed, --seed+1, ... or random), run them here")
    gen.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    _image_options(gen)

    batch = commands.add_parser("batch", help="queue and run a video for every row of a .txt, .csv or .jsonl file")
    batch.add_argument("file", help=".txt (a prompt a line), .csv (header of settings) or .jsonl (an object a line)")
    _request_options(batch)
    batch.add_argument("--name", help="the batch's id (default: from the file's path); same name, same batch")
    batch.add_argument("--json", action="store_true", help="print one JSON summary on stdout")

    jobs = commands.add_parser("jobs", help="the queue: running jobs, then queued ones in order")
    jobs.add_argument("--json", action="store_true")
    cancel = commands.add_parser("cancel", help="stop a queued or running job")
    cancel.add_argument("job")
    requeue = commands.add_parser("requeue", help="queue an interrupted, failed or cancelled job again")
    requeue.add_argument("job")
    requeue.add_argument("--run", action="store_true", help="run it here and now, then print the MP4's path")

    doctor = commands.add_parser("doctor", help="check the GPU and say which model and memory plan it runs")
    doctor.add_argument("--assume-gpu", help='plan for a card that is not here: "NAME,GB,CC", e.g. "RTX 4090,24,8.9"')
    doctor.add_argument("--no-measure", action="store_true", help="skip the timed bandwidth copies")
    doctor.add_argument("--json", action="store_true")

    presets = commands.add_parser("presets", help="list the style presets (built-in and your own)")
    presets.add_argument("--json", action="store_true")

    loras = commands.add_parser("loras", help="list the LoRA library ($STUDIO_LORAS or loras/ under the outputs)")
    loras.add_argument("--json", action="store_true")
    _scene_parser(commands)
    _extend_parser(commands)

    hist = commands.add_parser("history", help="list past jobs, newest first")
    hist.add_argument("--limit", type=_int("limit"), default=50)
    hist.add_argument("--json", action="store_true")
    return parser


def _request_options(parser: argparse.ArgumentParser) -> None:
    """The settings of a job: generate's own, and every row's defaults in a batch."""
    parser.add_argument("--model", help="tiny, tiny-5b, tiny-i2v, wan2.2-t2v-a14b, wan2.2-i2v-a14b, wan2.2-ti2v-5b, "
                                               "a model id or a folder")
    parser.add_argument("--negative-prompt")
    parser.add_argument("--preset", help="apply a preset's style and settings (see `presets`)")
    parser.add_argument("--width", type=_int("width"))
    parser.add_argument("--height", type=_int("height"))
    parser.add_argument("--frames", type=_int("frames"), help="4k+1, e.g. 81 (5 s at 16 fps)")
    parser.add_argument("--steps", type=_int("steps"))
    parser.add_argument("--guidance", type=float, dest="guidance_scale", help="guidance of the high-noise expert")
    parser.add_argument("--guidance-2", type=float, dest="guidance_scale_2", help="guidance of the low-noise expert")
    parser.add_argument("--shift", type=float, dest="flow_shift")
    parser.add_argument("--seed", type=_int("seed"))
    parser.add_argument("--fps", type=_int("fps"))
    parser.add_argument("--mode", choices=("quality", "turbo", "fast"))
    parser.add_argument("--memory-plan", help="auto or a plan name (see `doctor`)")
    parser.add_argument("--attention", help="default ($STUDIO_ATTENTION; fast jobs: $STUDIO_FAST_ATTENTION, int8), "
                                            "auto (exact, fastest kernel found: FA4, FlashInfer, cuDNN), "
                                            "int8 (ours: faster, about 1 %% error), fa4, flashinfer, cudnn, flash, "
                                            "efficient, native")
    parser.add_argument("--gpus", type=_int("gpus"), help="split the video over N GPUs (default: $STUDIO_GPUS or 1)")
    parser.add_argument("--translator", help="tiny, marian, m2m100, qwen or none")
    parser.add_argument("--no-translate", action="store_true", help="send the prompt to the model as typed")
    parser.add_argument("--lora", action="append", dest="loras", metavar="NAME[:STRENGTH[:STRENGTH_LOW]]",
                        help="apply a LoRA of the library (repeatable); STRENGTH_LOW: the low-noise expert's own")


def _scene_parser(commands) -> None:
    scene = commands.add_parser("scene", help="make a scene: shots one after another, each from the last frame of "
                                              "the one before, stitched into one MP4")
    scene.add_argument("file", nargs="?", help='scene .json: shared settings and "shots": [{"prompt", "frames" or '
                                               '"duration"}]')
    scene.add_argument("--resume", metavar="SCENE_ID", help="run a cancelled, failed or interrupted scene's missing "
                                                            "shots (its finished shots are kept)")
    scene.add_argument("--out", help="where to write the scene's MP4 (default: the outputs folder)")
    scene.add_argument("--no-translate", action="store_true", help="send the prompts to the model as typed")
    scene.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


def _extend_parser(commands) -> None:
    extend = commands.add_parser("extend", help="continue a finished job from its last frame: one MP4 of the whole")
    extend.add_argument("job", help="the finished job (or scene) to continue")
    extend.add_argument("--prompt", help="what happens next (default: the job's own prompt)")
    extend.add_argument("--frames", type=_int("frames"), help="frames to add, 4k+1 (default: as many as the job's)")
    extend.add_argument("--duration", type=float, help="seconds to add, instead of --frames")
    extend.add_argument("--seed", type=_int("seed"), help="default: the job's seed + 1")
    extend.add_argument("--out", help="where to write the whole MP4 (default: the outputs folder)")
    extend.add_argument("--no-translate", action="store_true", help="send the prompt to the model as typed")
    extend.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


def _image_options(parser: argparse.ArgumentParser) -> None:
    """Image-to-video: a start image and how it meets the video's size."""
    parser.add_argument("--image", help="start image (PNG, JPEG, WebP, ...), or JOB[:FRAME] for a frame of a past "
                                        "job's video (default its last): image-to-video with tiny-i2v, "
                                        "wan2.2-i2v-a14b, tiny-5b or wan2.2-ti2v-5b")
    parser.add_argument("--fit", choices=("crop", "pad"), dest="image_fit",
                        help="crop: fill the frame, cut the overflow (default); pad: keep it whole, black bars")


def _image_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"image": getattr(args, "image", None), "image_fit": getattr(args, "image_fit", None)}


def _int(name: str):
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import logs

    try:
        # stderr is the user's here: every failure reaches them as one "error:" line (a crash's traceback is kept
        # in the history), so logs are off unless STUDIO_LOG_LEVEL asks for them.
        logs.configure(os.environ.get("STUDIO_LOG_LEVEL") or "CRITICAL",
                       libraries=args.command in ("generate", "batch", "requeue", "scene", "extend"))
        return {"generate": _generate, "scene": _scene, "extend": _extend, "batch": _batch, "jobs": _jobs,
                "cancel": _cancel, "requeue": _requeue, "history": _history, "doctor": _doctor, "presets": _presets,
                "loras": _loras}[args.command](args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (`... | head`): not an error of the user's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except sqlite3.Error as exc:  # the history (or queue) file, locked, corrupt, read-only or unopenable
        print(f"error: {_database_problem(args, exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # the outputs folder or a file given on the command line
        print(f"error: {exc.filename or 'a file'}: {exc.strerror or exc}. Fix: check the path, its permissions "
              "and the free disk space.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def _database_problem(args: argparse.Namespace, exc: sqlite3.Error) -> str:
    """One line for a SQLite error that reached the command line: the file, what is wrong with it, the fix."""
    outputs = Path(args.outputs or os.environ.get("STUDIO_OUTPUTS") or "outputs")
    path, text = outputs / "history.sqlite", str(exc)
    if "locked" in text or "busy" in text:
        fix = "another studio or command is writing to it; wait for it to finish (or stop it) and try again"
    elif "readonly" in text or "read-only" in text:
        fix = "make the outputs folder and history.sqlite writable, or choose another folder with --outputs"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        fix = f"move it aside (mv {path} {path}.broken) and run again: a new, empty history starts"
    elif "unable to open" in text:
        fix = "check that it is a file you may read and write, or choose another folder with --outputs"
    else:
        fix = "check the outputs folder (free space, permissions), or choose another with --outputs"
    return f"the history {path} could not be used ({text}). Fix: {fix}."


def _config(args: argparse.Namespace, **overrides: Any):
    from .config import StudioConfig

    return StudioConfig.from_env(outputs=args.outputs, **overrides)


def _studio(args: argparse.Namespace):
    """A studio for the job settings on the command line (generate, batch)."""
    from .service import Studio

    translator = "none" if args.no_translate else args.translator
    return Studio(
        _config(args, model=args.model, translator=translator, memory_plan=args.memory_plan, gpus=args.gpus)
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: getattr(args, k)
        for k in ("negative_prompt", "width", "height", "frames", "steps", "guidance_scale", "guidance_scale_2",
                  "flow_shift", "seed", "fps", "mode", "memory_plan", "attention", "preset", "loras")
    }


def _generate(args: argparse.Namespace) -> int:
    from .events import Cancelled, Done, Failed, Notice, Preview, Progress
    from .request import cleaning_notice

    if args.variations is not None:
        _check_variations(args)
    out = _check_out(args.out)
    studio = _studio(args)
    settings = {**_settings(args), **_image_settings(args)}
    request = studio.request(args.prompt, translate=not args.no_translate, **settings)
    cleaned = cleaning_notice(args.prompt, request.prompt)
    if cleaned:
        print(f"notice: {cleaned}", file=sys.stderr)
    if args.variations is not None:
        return _variations(args, studio, settings)
    summary, previews = None, 0
    for event in studio.generate(request, output=out):
        if isinstance(event, Preview):
            previews += 1
        elif isinstance(event, Progress) and not args.json:
            print(event.describe(), file=sys.stderr)
        elif isinstance(event, Notice):
            print(f"notice: {event.message}", file=sys.stderr)
        elif isinstance(event, Done):
            summary = event.summary
        elif isinstance(event, Cancelled):
            print(f"cancelled: {event.message}", file=sys.stderr)
            return EXIT_CANCELLED
        elif isinstance(event, Failed):
            print(f"error: {event.message}", file=sys.stderr)
            return EXIT_BAD_INPUT if event.kind != "internal" else EXIT_FAILED
    assert summary is not None and summary["previews"] == previews
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(summary["output"])
    return 0


def _scene(args: argparse.Namespace) -> int:
    """A scene from a file (or the rest of an earlier one): shot progress on stderr, the MP4's path or JSON."""
    from .errors import InvalidRequest
    from .scene import parse_scene, read_scene_file, start_scene

    if bool(args.file) == bool(args.resume):
        raise InvalidRequest("scene", args.file or args.resume, "give a scene file or --resume SCENE_ID (one of them)")
    out = _check_out(args.out)
    if args.file:
        data = read_scene_file(args.file)
        studio = _scene_studio(args, data.get("model") if isinstance(data.get("model"), str) else None)
        if args.no_translate:
            data.setdefault("translate", False)
        scene_id = start_scene(studio, parse_scene(studio, data))
    else:
        from .service import Studio

        job = Studio(_config(args)).job(args.resume)
        studio = _scene_studio(args, job.get("model"))
        scene_id = job["id"]
    return _run_scene(args, studio, scene_id, out)


def _extend(args: argparse.Namespace) -> int:
    from .errors import InvalidRequest
    from .extend import extension
    from .scene import start_scene
    from .service import Studio

    if args.frames is not None and args.duration is not None:
        raise InvalidRequest("duration", args.duration, "give --frames or --duration, not both")
    out = _check_out(args.out)
    job = Studio(_config(args)).job(args.job)
    studio = _scene_studio(args, job.get("model"))
    settings = {"translate": False} if args.no_translate else None
    scene = extension(studio, job["id"], prompt=args.prompt, frames=args.frames, duration=args.duration,
                      seed=args.seed, settings=settings)
    scene_id = start_scene(studio, scene, title=f"extension of {job['id']}: {scene.shots[-1].prompt}")
    return _run_scene(args, studio, scene_id, out)


def _run_scene(args: argparse.Namespace, studio, scene_id: str, out: Path | None) -> int:
    """Run a recorded scene here: shot progress on stderr, then the MP4's path or the JSON summary."""
    from .events import Cancelled, Failed, Notice, Progress
    from .scene import SceneEnd, run_scene

    end = None
    for update in run_scene(studio, scene_id, output=out):
        if isinstance(update, SceneEnd):
            end = update
        elif isinstance(update.event, (Notice, Failed, Cancelled)) or (isinstance(update.event, Progress)
                                                                       and not args.json):
            print(update.describe(), file=sys.stderr)
    assert end is not None
    if args.json:
        print(json.dumps(end.summary, ensure_ascii=False))
    elif end.output:
        print(end.output)
    if end.status != "done":
        print(f"{end.status}: {end.message} (scene {scene_id}; finish it with `python -m studio scene --resume "
              f"{scene_id}`)", file=sys.stderr)
    return {"done": 0, "cancelled": EXIT_CANCELLED}.get(end.status, EXIT_FAILED)


def _scene_studio(args: argparse.Namespace, model: str | None):
    from .service import Studio

    return Studio(_config(args, model=model, translator="none" if args.no_translate else None))


MAX_VARIATIONS = 16


def _check_out(out: str | None) -> Path | None:
    """--out names the MP4 to write: refused before any work when it is a folder (the job would fail at its end)."""
    from .errors import InvalidRequest

    if not out:
        return None
    path = Path(out)
    if path.is_dir():
        raise InvalidRequest("out", out, f"it is a folder; name the MP4 file, e.g. --out {path / 'video.mp4'} "
                             "(or write into a folder's videos/ with --outputs DIR)")
    return path


def _check_variations(args: argparse.Namespace) -> None:
    from .errors import InvalidRequest

    if not 1 <= args.variations <= MAX_VARIATIONS:
        raise InvalidRequest("variations", args.variations, f"use a whole number from 1 to {MAX_VARIATIONS}")
    if args.out:
        raise InvalidRequest("out", args.out, "--variations writes one MP4 per seed into the outputs folder. "
                             "Fix: leave --out out (or choose the folder with --outputs DIR)")


def _variations(args: argparse.Namespace, studio, settings: dict[str, Any]) -> int:
    """Queue the same job with N consecutive seeds as one batch (Studio.submit_variations), run them here."""
    from .batch import run_jobs

    request = studio.request(args.prompt, translate=not args.no_translate, **settings)
    ids = studio.submit_variations(request, args.variations)
    batch_id = f"variations-{ids[0]}"
    ended = run_jobs(studio, batch_id, ids, _progress(len(ids)))
    jobs = [{"job_id": job_id, "status": ended[job_id]["status"], "output": ended[job_id]["output"],
             "seed": ended[job_id]["seed"], "prompt": ended[job_id]["prompt"]} for job_id in ids]
    if args.json:
        print(json.dumps({"batch_id": batch_id, "jobs": jobs}, ensure_ascii=False))
    else:
        for job in jobs:
            if job["output"]:
                print(job["output"])
    return 0 if all(job["status"] == "done" for job in jobs) else EXIT_FAILED


def _batch(args: argparse.Namespace) -> int:
    from .batch import batch_id_for, index_rows, queue_rows, read_rows, run_jobs, write_index

    path = Path(args.file)
    rows = read_rows(path)  # an unusable file stops here, before a model is looked at
    batch_id = batch_id_for(path, args.name)
    studio = _studio(args)
    queued = queue_rows(studio, batch_id, rows, {**_settings(args), "translate": not args.no_translate})
    for row in queued.bad:
        print(f"line {row.line}: {row.error}", file=sys.stderr)
    counts = f"{queued.skipped_done} already done, {len(queued.bad)} bad"
    print(f"batch {batch_id}: " + (f"queued {queued.queued}, {counts}" if queued.queued else
                                   f"nothing to queue ({counts})"), file=sys.stderr)
    ended = run_jobs(studio, batch_id, queued.waiting, _progress(len(queued.waiting)))
    folder = Path(studio.config.outputs) / "batches" / batch_id
    entries = write_index(folder, index_rows(rows, queued, ended), f"Batch {batch_id} ({path.name})")
    if args.json:
        print(json.dumps({
            "batch_id": batch_id, "folder": str(folder), "index_csv": str(folder / "index.csv"),
            "index_html": str(folder / "index.html"), "queued": queued.queued, "skipped_done": queued.skipped_done,
            "bad_rows": [{"line": row.line, "message": row.error} for row in queued.bad],
            "jobs": [{"line": e["line"], "job_id": e["job_id"], "status": e["status"], "seed": e["seed"],
                      "output": str(folder / e["file"]) if e["file"] else None, "prompt": e["prompt"]}
                     for e in entries if e["job_id"]],
        }, ensure_ascii=False))
    else:
        print(folder / "index.html")
    return 0 if all(e["status"] == "done" for e in entries) else EXIT_FAILED


def _progress(total: int):
    """Prints "[3/5] done PATH" (or the failure) to stderr as each job of a batch ends."""
    ended = 0

    def report(job: dict[str, Any]) -> None:
        nonlocal ended
        ended += 1
        what = job["output"] if job["status"] == "done" else f"{job['id']}: {job['error_message'] or job['status']}"
        print(f"[{ended}/{total}] {job['status']} {what}", file=sys.stderr)

    return report


def _jobs(args: argparse.Namespace) -> int:
    from .service import Studio

    rows = Studio(_config(args)).jobs()
    if args.json:
        print(json.dumps({"jobs": rows}, ensure_ascii=False, default=str))
        return 0
    for row in rows:
        place = "running" if row["status"] == "running" else f"#{row['place']}"
        print(f"{place:<8} {row['id']}  {row['prompt'][:60]}")
    if not rows:
        print("No job is queued or running.", file=sys.stderr)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from .service import Studio

    print(Studio(_config(args)).cancel(args.job))
    return 0


def _requeue(args: argparse.Namespace) -> int:
    from .service import Studio

    studio = Studio(_config(args))
    job = studio.job(args.job)
    if args.run and job["status"] == "queued":  # queued already (e.g. by an earlier `requeue`): just run it
        message = f"Job {job['id']} is queued; running it here."
    else:
        message = studio.requeue(job["id"])
    if not args.run:
        print(message)
        return 0
    print(message, file=sys.stderr)
    return _run_here(studio, job["id"])


def _run_here(studio, job_id: str) -> int:
    """Run a queued job in this process now (only that job, never one queued behind it); when a served
    studio claimed it first, follow it there. A cancel asked from another process reaches it here too."""
    import itertools
    import time

    from .events import TERMINAL, Cancelled, Done, Progress

    asked_at = time.monotonic()
    for event in itertools.chain(studio.drive(job_id), studio.follow(job_id)):
        if time.monotonic() - asked_at > 1.0:
            asked_at = time.monotonic()
            if studio.queue.cancels_asked([job_id]):
                studio.cancel(job_id)
        if isinstance(event, Progress):
            print(event.describe(), file=sys.stderr)
        elif isinstance(event, TERMINAL):
            break
    if isinstance(event, Done):
        print(event.output)
        return 0
    if isinstance(event, Cancelled):
        print(f"cancelled: {event.message}", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"error: {event.message}", file=sys.stderr)
    return EXIT_BAD_INPUT if event.kind != "internal" else EXIT_FAILED


def _history(args: argparse.Namespace) -> int:
    from .history import History

    jobs = History(_config(args).outputs).list(limit=args.limit)
    if args.json:
        print(json.dumps({"jobs": jobs}, ensure_ascii=False, default=str))
        return 0
    for job in jobs:
        print(f"{job['id']}  {job['status']:<11}  seed {job['seed']}  {(job['prompt'] or '')[:60]}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    """The built-ins and the presets of the studio's folder, or of one login's (`--user NAME`, with STUDIO_AUTH)."""
    from .presets import load_presets, user_folder

    config = _config(args)
    folder = user_folder(Path(config.outputs) / "presets", getattr(args, "user", None))
    found = load_presets(config.presets_dir, folder, config.assets_dir)
    for problem in found.problems:
        print(f"notice: {problem}", file=sys.stderr)
    if args.json:
        rows = [{"name": p.name, "title": p.title, "description": p.description, "source": p.source,
                 "prompt": p.prompt, "negative_prompt": p.negative_prompt, "settings": dict(p.settings)} for p in found]
        print(json.dumps({"presets": rows}, ensure_ascii=False))
        return 0
    for preset in found:
        print(f"{preset.name:<14} {preset.title:<16} {preset.description}")
    return 0


def _loras(args: argparse.Namespace) -> int:
    """The library's entries: name, rank, experts, size, trigger words; unusable files with the reason."""
    from .loras import LoraLibrary, folders_from_env

    library = LoraLibrary(folders_from_env(_config(args).outputs))
    entries = library.entries()
    for problem in library.problems:
        print(f"notice: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"folders": [str(f) for f in library.folders], "loras": [e.to_dict() for e in entries]},
                         ensure_ascii=False))
        return 0
    for entry in entries:
        if entry.error:
            print(f"{entry.name:<28} unusable: {entry.error}")
            continue
        words = f"  triggers: {', '.join(entry.trigger_words)}" if entry.trigger_words else ""
        words += f"  base: {entry.base_model}" if entry.base_model else ""
        fast = "  (step-distilled: fast mode)" if entry.distilled else ""
        fast += f"  ({entry.ignored_keys} keys not applied)" if entry.ignored_keys else ""
        print(f"{entry.name:<28} rank {entry.rank:<4} {'+'.join(entry.experts):<9} {entry.size / 2**20:8.1f} MB{words}{fast}")
    if not entries:
        print(f"No LoRA in {', '.join(map(str, library.folders))}: put .safetensors files there.", file=sys.stderr)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor_report, format_report

    report = doctor_report(assume_gpu=args.assume_gpu, measure=not args.no_measure)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
