"""Wan Studio entry point: `python app.py [--model NAME|ID|FOLDER] [--host H] [--port P]` (also the HF Space app_file)."""

from __future__ import annotations

import argparse
import logging
import sys

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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from studio.config import StudioConfig
    from studio.errors import StudioError
    from studio.service import Studio
    from studio.ui import build_app
    from studio.ui.style import CSS, theme

    try:
        config = StudioConfig.from_env(
            model=args.model, outputs=args.outputs, host=args.host, port=args.port, gpus=args.gpus
        )
        studio = Studio(config)
    except StudioError as exc:
        sys.exit(f"error: {exc}")
    app = build_app(studio)
    app.launch(
        server_name=config.host, server_port=config.port, allowed_paths=[str(config.outputs), str(config.assets_dir)],
        theme=theme(), css=CSS, show_error=True,
    )


if __name__ == "__main__":
    main()
