"""Wan Studio entry point: `python app.py [--model NAME|ID|FOLDER] [--host H] [--port P]` (also the HF Space app_file)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:  # on Hugging Face ZeroGPU, `spaces` must be imported before torch
    import spaces  # noqa: F401
except ImportError:
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Start Wan Studio in the browser.")
    parser.add_argument("--model", help="tiny, wan2.2-t2v-a14b, wan2.2-ti2v-5b, a model id or a folder (default: auto)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--outputs", help="outputs and history folder (default: $STUDIO_OUTPUTS or ./outputs)")
    parser.add_argument("--gpus", type=int, help="split each video across this many GPUs (default: $STUDIO_GPUS or 1)")
    parser.add_argument("--workers", type=int,
                        help="jobs run at once, each on its own GPU (default: $STUDIO_WORKERS or one per GPU)")
    parser.add_argument("--translator", help="marian, m2m100, qwen, none or tiny (default: $STUDIO_TRANSLATOR or auto)")
    parser.add_argument("--memory-plan", help="auto or a plan name, see `python -m studio doctor`")
    args = parser.parse_args(argv)

    from studio import logs
    from studio.access import parse_auth
    from studio.config import StudioConfig
    from starlette.middleware import Middleware

    from studio.errors import StudioError
    from studio.file_guard import OwnFilesOnly
    from studio.service import Studio
    from studio.upload_budget import UploadBudget
    from studio.space import zero_gpu
    from studio.ui import build_app
    from studio.ui.style import CSS, HEAD, theme

    try:
        logs.configure(os.environ.get("STUDIO_LOG_LEVEL", "INFO"),
                       json_lines=os.environ.get("STUDIO_LOG_FORMAT", "json") == "json")
        config = StudioConfig.from_env(
            model=args.model, outputs=args.outputs, host=args.host, port=args.port, gpus=args.gpus,
            workers=args.workers, translator=args.translator, memory_plan=args.memory_plan,
        )
        studio = Studio(config)
        studio.own_folder()
        if studio.history.moved_aside:
            print(f"notice: the history was damaged; it was moved to {studio.history.moved_aside} and rebuilt from "
                  "the videos' sidecars", file=sys.stderr)
        auth = parse_auth(config.auth)
    except StudioError as exc:
        sys.exit(f"error: {exc}")
    # Proxy headers (X-Forwarded-For) name the client only when they come from a proxy the operator trusts:
    # uvicorn would otherwise believe any local sender, and a script could change the identity that the
    # rate limit and the per-person queue count with one header.
    os.environ["FORWARDED_ALLOW_IPS"] = os.environ.get("STUDIO_TRUSTED_PROXIES", "")
    app = build_app(studio)
    studio.metrics.watch_queue(lambda: sum(job["status"] == "queued" for job in studio.queue.waiting()))
    studio.metrics.watch(history=studio.history, workers=lambda: studio.workers)
    studio.metrics.start_gpu_sampler()
    if not zero_gpu():  # on ZeroGPU only a page's own call gets a GPU: the page following a job runs it
        studio.start_workers(config.workers)
    app.launch(
        server_name=config.host, server_port=config.port,
        # Only the videos (with their thumbnails) and the assets: never history.sqlite, caches or user presets.
        allowed_paths=[str(Path(config.outputs) / "videos"), str(config.assets_dir)],
        auth=auth, auth_message="This studio is private: log in with the name and password you were given.",
        max_file_size=config.max_upload_bytes,
        app_kwargs={"routes": [_metrics_route(studio)], "middleware": [
            Middleware(UploadBudget, count_bytes=8 * config.max_upload_bytes),
            Middleware(OwnFilesOnly, history=studio.history, enabled=bool(auth))]},
        theme=theme(), css=CSS, head=HEAD, show_error=True,
        max_threads=256,  # each job stream holds a thread while its job runs (at most 8 per person, jobs.Followers)
    )


def _metrics_route(studio):
    """GET /metrics in the Prometheus text format, on the studio's own port; counts only, no prompts, no login."""
    from starlette.responses import Response
    from starlette.routing import Route

    def metrics(_request) -> Response:
        body, content_type = studio.metrics.render()
        return Response(body, media_type=content_type)

    return Route("/metrics", metrics, methods=["GET"])


if __name__ == "__main__":
    main()
