"""Language detection measured on the development sets, side by side with langdetect and lingua (issue 20).

    python -m bench.language_eval [--json]

For each set: Chinese vs not (is "zh" exactly when the set says zh), the exact language, and the mean and
slowest time per prompt (after one warm-up pass, so lazily loaded profiles are not counted). The sets are
the tsv files in tests/language/ (language<TAB>prompt[<TAB>spans]); runs on CPU in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "dev25 (issue 20)": ROOT / "tests/language/data/dev25.tsv",
    "mixed25 (issue 20)": ROOT / "tests/language/data/mixed25.tsv",
    "lang_dev": ROOT / "tests/language/data/lang_dev.tsv",
    "heldout": ROOT / "tests/language/heldout.tsv",
}


def rows(path: Path) -> list[tuple[str, str]]:
    """(language, prompt) of a development set; comment lines start with #."""
    lines = path.read_text("utf-8").splitlines()
    return [tuple(line.split("\t")[:2]) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _langdetect() -> Callable[[str], str]:
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0

    def run(text: str) -> str:
        try:
            return detect(text).split("-")[0]
        except LangDetectException:
            return "und"

    return run


def _lingua() -> Callable[[str], str]:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()

    def run(text: str) -> str:
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else "und"

    return run


def detectors() -> dict[str, Callable[[str], str]]:
    from studio.language import detect_language

    return {"studio": detect_language, "langdetect": _langdetect(), "lingua (all languages)": _lingua()}


def measure(detect: Callable[[str], str], data: list[tuple[str, str]]) -> dict[str, float]:
    """Chinese-vs-not and exact accuracy, mean and slowest milliseconds per prompt."""
    for _, text in data:  # warm-up: lazily loaded models and profiles
        detect(text)
    times, chinese, exact = [], 0, 0
    for expected, text in data:
        started = time.perf_counter()
        got = detect(text)
        times.append(time.perf_counter() - started)
        chinese += (got == "zh") == (expected == "zh")
        exact += got == expected
    return {"prompts": len(data), "chinese_vs_not": chinese / len(data), "exact": exact / len(data),
            "mean_ms": 1000 * sum(times) / len(times), "max_ms": 1000 * max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    runs = detectors()
    report = {name: {peer: measure(detect, rows(path)) for peer, detect in runs.items()} for name, path in SETS.items()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("| set | detector | prompts | Chinese vs not | exact language | mean ms | slowest ms |")
    print("|---|---|---|---|---|---|---|")
    for name, peers in report.items():
        for peer, m in peers.items():
            print(f"| {name} | {peer} | {m['prompts']} | {m['chinese_vs_not']:.1%} | {m['exact']:.1%} | "
                  f"{m['mean_ms']:.3f} | {m['max_ms']:.2f} |")


if __name__ == "__main__":
    main()
