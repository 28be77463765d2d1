"""Run every benchmark script in this folder, one after another (``python3 run.py bench``).

``python3 run.py bench llm_client_overhead`` runs just that one; extra arguments go to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"harness.py", "run_all.py"}


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in NOT_BENCHMARKS)
    if argv and not argv[0].startswith("-"):
        wanted = argv[0].removesuffix(".py")
        scripts = [p for p in scripts if p.stem == wanted]
        argv = argv[1:]
        if not scripts:
            print(f"no benchmark named {wanted!r} in {HERE}", file=sys.stderr)
            return 2
    status = 0
    for script in scripts:
        print(f"=== {script.stem}", flush=True)
        status |= subprocess.run([sys.executable, str(script), *argv], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
