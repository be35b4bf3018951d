"""llama.cpp's own programs (llama-server, llama-lookup, llama-speculative-simple), built from source.

The source is the llama.cpp that the installed llama-cpp-python carries: its sdist is downloaded once with pip
(the package, no prebuilt binary) and unpacked into the user cache dir, `<cache>/workbench/llama.cpp-<version>/`,
and the programs asked for are compiled there with CMake, once, then reused. Nothing prebuilt is downloaded: the
server's web UI (which this llama.cpp would fetch from Hugging Face) and HTTPS (OpenSSL, BoringSSL, curl) are
configured off, so llama-server builds offline and serves its API without the UI page.

The first build costs minutes (llama-server needs the whole common library and mtmd: 1000 s on two cores that
other builds shared, the first time here); a progress line shows how far it is, and the time it took is printed at
the end. One build directory holds every target, configured once; a second program compiles only what the first
did not. A lock file keeps two processes (a test run and a benchmark) from building into the same directory at once.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

import platformdirs

from ..engine.errors import WorkbenchError

SERVER = "llama-server"
LOOKUP = "llama-lookup"
SPECULATIVE = "llama-speculative-simple"


def llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError as e:
        raise WorkbenchError("llama-cpp-python is not installed: its sdist is where llama.cpp's source comes from") from e


def cache_root(version: str | None = None) -> Path:
    return Path(platformdirs.user_cache_dir("workbench")) / f"llama.cpp-{version or llama_cpp_version()}"


def binary_path(target: str, version: str | None = None) -> Path:
    return cache_root(version) / "build" / "bin" / target


def source_dir(root: Path, version: str) -> Path:
    """The llama.cpp source inside the sdist (downloaded with pip and unpacked into `root` if missing)."""
    src = root / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (src / "CMakeLists.txt").exists():
        return src
    root.mkdir(parents=True, exist_ok=True)
    sdists = sorted(root.glob(f"llama_cpp_python-{version}.tar.gz"))
    if not sdists:
        print(f"downloading the llama-cpp-python {version} sdist into {root} ...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
                               "--dest", str(root), f"llama-cpp-python=={version}"], capture_output=True, text=True)
        sdists = sorted(root.glob(f"llama_cpp_python-{version}.tar.gz"))
        if not sdists:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise WorkbenchError(f"pip could not download the llama-cpp-python {version} sdist: {tail[0]}")
    with tarfile.open(sdists[0]) as tar:
        tar.extractall(root, filter="data")
    if not (src / "CMakeLists.txt").exists():
        raise WorkbenchError(f"no llama.cpp source at {src} in the llama-cpp-python {version} sdist")
    return src


def cmake_options(src: Path) -> list[str]:
    """The configure flags, each checked against the options this llama.cpp declares (they move between versions)."""
    declared = set(re.findall(r"^\s*option\(\s*(\w+)", (src / "CMakeLists.txt").read_text(), re.M))
    flags = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF"]
    wanted = {
        # the programs: examples (lookup, speculative-simple), tools and the server
        "LLAMA_BUILD_EXAMPLES": "ON", "LLAMA_BUILD_TOOLS": "ON", "LLAMA_BUILD_SERVER": "ON",
        # not the unified binary, and no web UI: neither built with npm nor downloaded prebuilt
        "LLAMA_BUILD_APP": "OFF", "LLAMA_BUILD_UI": "OFF", "LLAMA_USE_PREBUILT_UI": "OFF",
        # no HTTPS and no model downloads (older trees: LLAMA_CURL; newer ones: LLAMA_OPENSSL)
        "LLAMA_CURL": "OFF", "LLAMA_OPENSSL": "OFF", "LLAMA_LLGUIDANCE": "OFF",
    }
    flags += [f"-D{name}={value}" for name, value in wanted.items() if name in declared]
    return flags


_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def _compile(command: list[str], log: Path, label: str) -> None:
    """Run the build with one progress line (the percentage CMake reports) instead of its output, kept in `log`."""
    start = time.perf_counter()
    tty = sys.stderr.isatty()
    shown = -1
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            m = _PERCENT.match(line)
            if m is None:
                continue
            percent = int(m.group(1))
            if percent != shown and (tty or percent >= shown + 10):
                shown = percent
                elapsed = time.perf_counter() - start
                lead = "\r" if tty else ""
                print(f"{lead}building {label}: {percent:3d}% ({elapsed:.0f} s)", end="" if tty else "\n",
                      file=sys.stderr, flush=True)
        code = proc.wait()
    if tty and shown >= 0:
        print(file=sys.stderr)
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
        raise WorkbenchError(f"building {label} failed (exit {code}; the whole log is {log}): " + " | ".join(tail))


def ensure(targets: Iterable[str], jobs: int = 2, version: str | None = None) -> dict[str, Path]:
    """The paths of llama.cpp's programs `targets`, built first if missing (once per llama-cpp-python version)."""
    version = version or llama_cpp_version()
    targets = list(targets)
    root = cache_root(version)
    build = root / "build"
    paths = {t: build / "bin" / t for t in targets}
    if all(os.access(p, os.X_OK) for p in paths.values()):
        return paths
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building: wait for it, then see what is left
        missing = [t for t, p in paths.items() if not os.access(p, os.X_OK)]
        if not missing:
            return paths
        src = source_dir(root, version)
        label = f"{', '.join(missing)} (llama.cpp of llama-cpp-python {version})"
        print(f"building {label} into {build}, once: this takes minutes", file=sys.stderr, flush=True)
        start = time.perf_counter()
        log = root / "build.log"
        if not (build / "CMakeCache.txt").exists():
            _compile(["cmake", "-S", str(src), "-B", str(build), *cmake_options(src)], log, "configure")
        _compile(["cmake", "--build", str(build), "--config", "Release", "--target", *missing, "-j", str(jobs)],
                 log, ", ".join(missing))
        absent = [str(paths[t]) for t in missing if not os.access(paths[t], os.X_OK)]
        if absent:
            raise WorkbenchError(f"the build did not produce {', '.join(absent)} (log: {log})")
        print(f"built {label} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return paths


def main() -> None:
    """`python -m workbench.deploy.llama_build [TARGET ...] [--version V] [-j N]`: build ahead of time."""
    import argparse

    p = argparse.ArgumentParser(description="Build llama.cpp's programs from the llama-cpp-python sdist into the "
                                            "user cache dir (once).")
    p.add_argument("targets", nargs="*", default=[SERVER])
    p.add_argument("--version", help="llama-cpp-python version (default: the installed one)")
    p.add_argument("-j", "--jobs", type=int, default=2)
    args = p.parse_args()
    try:
        for name, path in ensure(args.targets, args.jobs, args.version).items():
            print(f"{name}: {path}")
    except WorkbenchError as e:
        raise SystemExit(f"llama_build: error: {e}") from None


if __name__ == "__main__":
    main()
