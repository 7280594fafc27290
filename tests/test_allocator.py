import os
import subprocess
import sys


def test_studio_turns_on_expandable_segments_unless_the_user_chose():
    """The 40 GB expert-swap plan needs them (BENCHMARKS.md); an explicit setting is left alone."""
    code = "import studio, os; print(os.environ['PYTORCH_CUDA_ALLOC_CONF'])"
    env = {k: v for k, v in os.environ.items() if k != "PYTORCH_CUDA_ALLOC_CONF"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert default.stdout.strip() == "expandable_segments:True"
    chosen = subprocess.run([sys.executable, "-c", code], env={**env, "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"},
                            capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == "max_split_size_mb:512"
