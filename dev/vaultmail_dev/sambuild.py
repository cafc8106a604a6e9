"""``sam build`` for local runs and tests, cached by the content of what it builds.

``sam build`` needs the template's runtime (python3.13) on PATH: it is looked up on PATH,
then in pyenv. The build lands in ``.aws-sam/local-build`` and is reused while template.yaml,
layers/ and functions/ are unchanged. ``runtime_deps`` installs what the Lambda runtime
itself provides (boto3, at the versions of ``dev/lambda-runtime-requirements.txt``) for that
interpreter, beside the build, never into it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / ".aws-sam" / "local-build"
DEPS_DIR = ROOT / ".aws-sam" / "runtime-deps"
RUNTIME = "python3.13"


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Build:
    """Where the built functions and layer are, and the interpreter that runs them."""

    directory: Path
    python: str
    deps_dir: Path
    from_source: bool = False

    def function_dir(self, logical_id: str, source_dir: Path) -> Path:
        return source_dir if self.from_source else self.directory / logical_id

    def layer_dir(self, logical_id: str) -> Path:
        return ROOT / "layers" / "core" if self.from_source else self.directory / logical_id / "python"


def find_python313() -> str | None:
    """python3.13 on PATH, else the newest pyenv 3.13.x, else None."""
    found = shutil.which(RUNTIME)
    if found and _runs(found):
        return found
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        versions = sorted(Path(root, "versions").glob("3.13*"), reverse=True)
        for version in versions:
            candidate = version / "bin" / RUNTIME
            if candidate.exists() and _runs(str(candidate)):
                return str(candidate)
    return None


def _runs(python: str) -> bool:
    try:
        return (
            subprocess.run(
                [python, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _fingerprint() -> str:
    digest = hashlib.sha256()
    paths = [ROOT / "template.yaml"]
    for top in ("layers", "functions"):
        paths += sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def sam_executable() -> str:
    sam = Path(sys.executable).with_name("sam")
    return str(sam) if sam.exists() else (shutil.which("sam") or "sam")


def build(python: str, *, build_dir: Path = BUILD_DIR, force: bool = False) -> Path:
    """Run ``sam build`` into ``build_dir`` unless a build of the same sources is there."""
    stamp = build_dir / ".vaultmail-fingerprint"
    fingerprint = _fingerprint()
    if not force and stamp.exists() and stamp.read_text() == fingerprint:
        return build_dir
    env = dict(os.environ)
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    cmd = [
        sam_executable(),
        "build",
        "--template",
        str(ROOT / "template.yaml"),
        "--build-dir",
        str(build_dir),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise BuildError(
            f"sam build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    stamp.write_text(fingerprint)
    return build_dir


RUNTIME_REQUIREMENTS = ROOT / "dev" / "lambda-runtime-requirements.txt"


def runtime_deps(python: str, *, target: Path = DEPS_DIR) -> Path:
    """What the Lambda runtime provides (boto3), for ``python``, in its own directory.

    Installed from ``dev/lambda-runtime-requirements.txt``, exported from uv.lock with hashes
    (``make lock``): the same versions on every machine, never the day's newest.
    """
    wanted = {"requirements": hashlib.sha256(RUNTIME_REQUIREMENTS.read_bytes()).hexdigest()}
    stamp = target / ".vaultmail-deps.json"
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return target
    shutil.rmtree(target, ignore_errors=True)
    proc = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--require-hashes",
            "--target",
            str(target),
            "-r",
            str(RUNTIME_REQUIREMENTS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise BuildError(f"installing boto3 for {python} failed:\n{proc.stderr[-2000:]}")
    stamp.write_text(json.dumps(wanted))
    return target


def prepare(*, allow_source_fallback: bool = True, log: object = None) -> Build:
    """The build to run: ``sam build`` on Python 3.13, or (loudly) the source tree."""
    python = find_python313()
    if python is None:
        if not allow_source_fallback:
            raise BuildError("python3.13 not found (PATH or pyenv): cannot sam build")
        print(
            "WARNING: python3.13 not found on PATH or in pyenv: running the functions from the "
            f"SOURCE TREE on {sys.version.split()[0]}, not from the sam build output",
            file=sys.stderr,
        )
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
        return Build(ROOT, sys.executable, site, from_source=True)
    return Build(build(python), python, runtime_deps(python))


def main() -> int:
    python = find_python313()
    if python is None:
        print("python3.13 not found on PATH or in pyenv; sam build needs it", file=sys.stderr)
        return 3
    path = build(python, force="--force" in sys.argv)
    print(f"built with {python} into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
