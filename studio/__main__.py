"""Command line: `python -m studio generate | history | presets | doctor`.

Bad input exits with code 2 and one line on stderr, never a traceback; `--json` prints exactly
one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
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
    gen.add_argument("--model", help="tiny, tiny-5b, wan2.2-t2v-a14b, wan2.2-ti2v-5b, a model id or a folder")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative-prompt")
    gen.add_argument("--preset", help="apply a preset's style and settings (see `presets`)")
    gen.add_argument("--width", type=_int("width"))
    gen.add_argument("--height", type=_int("height"))
    gen.add_argument("--frames", type=_int("frames"), help="4k+1, e.g. 81 (5 s at 16 fps)")
    gen.add_argument("--steps", type=_int("steps"))
    gen.add_argument("--guidance", type=float, dest="guidance_scale", help="guidance of the high-noise expert")
    gen.add_argument("--guidance-2", type=float, dest="guidance_scale_2", help="guidance of the low-noise expert")
    gen.add_argument("--shift", type=float, dest="flow_shift")
    gen.add_argument("--seed", type=_int("seed"))
    gen.add_argument("--fps", type=_int("fps"))
    gen.add_argument("--mode", choices=("quality", "turbo", "fast"))
    gen.add_argument("--memory-plan", help="auto or a plan name (see `doctor`)")
    gen.add_argument("--attention", help="default ($STUDIO_ATTENTION; fast jobs: $STUDIO_FAST_ATTENTION, int8), "
                                         "auto (exact, fastest kernel found), "
                                         "int8 (ours: faster, about 1 %% error), cudnn, flash, efficient, native")
    gen.add_argument("--gpus", type=_int("gpus"), help="split the video over N GPUs (default: $STUDIO_GPUS or 1)")
    gen.add_argument("--translator", help="tiny, marian, m2m100, qwen or none")
    gen.add_argument("--no-translate", action="store_true", help="send the prompt to the model as typed")
    gen.add_argument("--out", help="where to write the MP4 (default: the outputs folder)")
    gen.add_argument("--json", action="store_true", help="print one JSON summary on stdout")

    doctor = commands.add_parser("doctor", help="check the GPU and say which model and memory plan it runs")
    doctor.add_argument("--assume-gpu", help='plan for a card that is not here: "NAME,GB,CC", e.g. "RTX 4090,24,8.9"')
    doctor.add_argument("--no-measure", action="store_true", help="skip the timed bandwidth copies")
    doctor.add_argument("--json", action="store_true")

    presets = commands.add_parser("presets", help="list the style presets (built-in and your own)")
    presets.add_argument("--json", action="store_true")

    hist = commands.add_parser("history", help="list past jobs, newest first")
    hist.add_argument("--limit", type=_int("limit"), default=50)
    hist.add_argument("--json", action="store_true")
    return parser


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

    # stderr is the user's here: every failure reaches them as one "error:" line (a crash's traceback is kept
    # in the history), so logs are off unless STUDIO_LOG_LEVEL asks for them.
    logs.configure(os.environ.get("STUDIO_LOG_LEVEL", "CRITICAL"), libraries=args.command == "generate")
    try:
        return {"generate": _generate, "history": _history, "doctor": _doctor,
                "presets": _presets}[args.command](args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (`... | head`): not an error of the user's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the outputs folder or a file given on the command line
        print(f"error: {exc.filename or 'a file'}: {exc.strerror or exc}. Fix: check the path, its permissions "
              "and the free disk space.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def _config(args: argparse.Namespace, **overrides: Any):
    from .config import StudioConfig

    return StudioConfig.from_env(outputs=args.outputs, **overrides)


def _generate(args: argparse.Namespace) -> int:
    from .events import Cancelled, Done, Failed, Notice, Preview, Progress
    from .request import cleaning_notice
    from .service import Studio

    translator = "none" if args.no_translate else args.translator
    studio = Studio(
        _config(args, model=args.model, translator=translator, memory_plan=args.memory_plan, gpus=args.gpus)
    )
    settings = {
        k: getattr(args, k)
        for k in ("negative_prompt", "width", "height", "frames", "steps", "guidance_scale", "guidance_scale_2",
                  "flow_shift", "seed", "fps", "mode", "memory_plan", "attention", "preset")
    }
    request = studio.request(args.prompt, translate=not args.no_translate, **settings)
    cleaned = cleaning_notice(args.prompt, request.prompt)
    if cleaned:
        print(f"notice: {cleaned}", file=sys.stderr)
    out = Path(args.out) if args.out else None
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
    from .presets import load_presets

    config = _config(args)
    found = load_presets(config.presets_dir, Path(config.outputs) / "presets", config.assets_dir)
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


def _doctor(args: argparse.Namespace) -> int:
    from .hardware import doctor_report, format_report

    report = doctor_report(assume_gpu=args.assume_gpu, measure=not args.no_measure)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
