"""The Release build the bench measures (build-release/)."""

import os
import shutil
import subprocess

from .common import BENCH, BUILD, PROJECT, ROOT, log


# ---------------------------------------------------------------------------
# Build


def build(args):
    env = dict(os.environ)
    env.setdefault("CC", "clang")
    env.setdefault("CXX", "clang++")
    log(f"building Release in {os.path.relpath(BUILD, ROOT)}/ ({env['CXX']})")
    subprocess.run(["cmake", "-S", ROOT, "-B", BUILD, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                    "-DTORNADO_BUILD_TESTS=OFF"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD, "-j", str(args.jobs), "--target", "wsload",
                    "bench_ceiling", "tlsload"], check=True, env=env)
    notes = {}
    if os.path.exists(os.path.join(ROOT, "apps", "echo", "CMakeLists.txt")):
        r = subprocess.run(["cmake", "--build", BUILD, "-j", str(args.jobs), "--target",
                            "echo_server"], env=env)
        if r.returncode != 0:
            notes[PROJECT] = "echo_server failed to build"
    else:
        notes[PROJECT] = "apps/echo has no CMakeLists.txt yet"
    if shutil.which("npm") and not os.path.isdir(os.path.join(BENCH, "node_modules", "ws")):
        log("npm ci in tools/bench (Node ws)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH,
                       check=False, stdout=subprocess.DEVNULL)
    return notes
