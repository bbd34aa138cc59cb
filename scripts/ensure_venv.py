"""Create ./.venv and install nemopi with an extra into it, unless it is already up to date.

Used by demo.sh and test.sh so that both README commands work on a fresh clone. The install
is redone only when pyproject.toml changed since the last one (a stamp file records it).
Needs Python 3.11 or newer with the venv module (Debian: apt-get install python3-venv).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def main(extra: str) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 -- this script runs before the venv exists
        sys.stderr.write(f"nemopi needs Python 3.11 or newer; this is {sys.version.split()[0]}\n")
        return 1
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra}-{digest}"
    if stamp.exists():
        return 0
    if not (VENV / "bin" / "python").exists():
        sys.stdout.write(f"Creating a virtual environment in {VENV} ...\n")
        venv.EnvBuilder(with_pip=True).create(VENV)
    sys.stdout.write(f"Installing nemopi[{extra}] into {VENV} (first run only) ...\n")
    sys.stdout.flush()
    pip = [
        str(VENV / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    result = subprocess.run([*pip, "-e", f"{ROOT}[{extra}]"], check=False)
    if result.returncode != 0:
        return result.returncode
    for old in VENV.glob(f".installed-{extra}-*"):
        old.unlink()
    stamp.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dev"))
