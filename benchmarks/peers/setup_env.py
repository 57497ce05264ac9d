"""Create the peers' own virtual environment, ``benchmarks/peers/.venv`` (git-ignored), with real TensorFlow.

The original packages (fer, facex) need TensorFlow, which is never a ferbench dependency, so they live in an
environment of their own: ``requirements.txt`` (tensorflow-cpu and what the packages import), then
``requirements-nodeps.txt`` installed with ``--no-deps``. About 300 MB; takes a few minutes.

Usage: ``python benchmarks/peers/setup_env.py [--venv PATH]`` (any Python 3.11+; it does not import ferbench).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def python_of(env: Path) -> Path:
    return env / ("Scripts" if sys.platform == "win32" else "bin") / "python"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, default=HERE / ".venv")
    args = ap.parse_args()
    if not python_of(args.venv).exists():
        venv.EnvBuilder(with_pip=True).create(args.venv)
    py = str(python_of(args.venv))
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(HERE / "requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", "-r", str(HERE / "requirements-nodeps.txt")], check=True)
    subprocess.run([py, "-c", "import tensorflow, fer.fer, facex.core"], check=True)
    print(f"peers environment ready: {py}")


if __name__ == "__main__":
    main()
