# Runs inside the benchmark container (bench/storage.sh): the file work of
# issue 15 in one directory, printed as "name ms" lines.
#   workload.py DIR
# DIR is on the container's rootfs, a volume or a tmpfs. The import row runs
# a new interpreter whose standard library is under DIR (copied there first,
# not timed; on the rootfs it is the image's own /usr/lib/python3.11).
import os
import shutil
import subprocess
import sys
import time

d = sys.argv[1]
os.makedirs(d, exist_ok=True)


def timed(name, fn):
    t = time.perf_counter()
    fn()
    print(f"{name} {(time.perf_counter() - t) * 1000:.0f}", flush=True)


def create():
    for i in range(500):
        with open(f"{d}/f{i}", "w") as f:
            f.write("x" * 100)


def read_unlink():
    for i in range(500):
        with open(f"{d}/f{i}") as f:
            f.read()
        os.unlink(f"{d}/f{i}")


CHUNK = b"\0" * (1 << 20)


def write64():
    with open(f"{d}/big", "wb") as f:
        for _ in range(64):
            f.write(CHUNK)
        f.flush()
        os.fsync(f.fileno())


def read64():
    with open(f"{d}/big", "rb") as f:
        while f.read(1 << 20):
            pass
    os.unlink(f"{d}/big")


env = dict(os.environ)
if d != "/rootfs-work":
    shutil.copytree("/usr/lib/python3.11", f"{d}/py/lib/python3.11", symlinks=True)
    env["PYTHONHOME"] = f"{d}/py"
IMPORTS = "import asyncio, json, email, http.client, sqlite3, decimal, argparse"


def python_import():
    subprocess.run(["/usr/bin/python3", "-c", IMPORTS], env=env, check=True)


timed("create500", create)
timed("read_unlink500", read_unlink)
timed("python_import", python_import)
timed("write64MiB", write64)
timed("read64MiB", read64)
