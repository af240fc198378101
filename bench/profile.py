#!/usr/bin/env python3
"""perf record of Tessera under one hot path's load, as bench.py drives it.

    python3 bench/profile.py BINARY PATH SECONDS [DEVICES] [--dwarf]

PATH is `logout` (the v1 logout + login cycle), `healthz`, or a read path's name in bench.py
(`checkauthn`, `tokens/authn`, `authorize (cached)`, `mediatoken`) or a REST v2 read's
(`v2 profiles/{mvpd}`, `v2 decisions/authorize (cached)`). Seeds DEVICES devices (default
100,000) as bench.py does, starts the binary, runs wrk with 2 threads and 64 connections, records
SECONDS of it with `perf record -g` (`--dwarf`: DWARF call graphs, for stacks through libsqlite3,
which has no frame pointers) into bench/results/profile-<path>.data, and prints wrk's figures and
the CPU seconds Tessera used while recorded. Read it with
`perf report -i FILE --no-children --sort comm,sym -g none`. Needs `perf` (Debian: linux-perf)
and TESSERA_KEY_ENCRYPTION_KEY set as for bench.py.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

options = argparse.ArgumentParser()
options.add_argument("binary")
options.add_argument("path")
options.add_argument("seconds", type=int)
options.add_argument("devices", type=int, nargs="?", default=100_000)
options.add_argument("--dwarf", action="store_true")
given = options.parse_args()
args = argparse.Namespace(binary=given.binary, devices=given.devices, working_set=50_000, duration=given.seconds,
                          slices=1, warmup=60, threads=2, sdk_sessions=1000, connections=64, port=18080,
                          peer_port=14593, no_peer=True, growth=False, only=given.path, label="", postgres=False,
                          postgres_port=55434, pool_size=16)
name = given.path.replace("/", "-").replace(" ", "-").replace("(", "").replace(")", "")
output = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"profile-{name}.data")
os.makedirs(os.path.dirname(output), exist_ok=True)
tessera = bench.Tessera(args, None)
tessera.seed()
pid = tessera.start()
try:
    token = tessera.bearer()
    if given.path == "logout":
        script = bench.write_cycle_script(args, token)
    elif given.path == "healthz":
        script = ""
    elif given.path in (v2_reads := {name: rest for name, *rest in bench.V2_READ_PATHS}):
        method, route, body = v2_reads[given.path]
        script = bench.v2_read_script(args, method, route, token, body)
        bench.run_wrk(args, tessera.base, bench.v2_read_script(args, method, route, token, body, sweep=True), 60)
    else:
        route = dict(bench.READ_PATHS + [bench.MEDIA_PATH])[given.path]
        script = bench.read_script(args, route, token)
        bench.run_wrk(args, tessera.base, bench.read_script(args, route, token, sweep=True), 60)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    target = tessera.base + ("/healthz" if given.path == "healthz" else "")
    wrk = subprocess.Popen(["wrk", "-t2", "-c64", f"-d{given.seconds + 4}s", "-s", lua.name, target],
                           stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    before = bench.cpu_seconds(pid)
    graph = ["--call-graph", "dwarf,16384", "-F", "299"] if given.dwarf else ["-g", "-F", "999"]
    subprocess.run(["perf", "record", *graph, "-p", str(pid), "-o", output, "--", "sleep", str(given.seconds)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    used = bench.cpu_seconds(pid) - before
    print(wrk.communicate()[0])
    print(f"CPU seconds Tessera used while recorded: {used:.2f}; profile: {output}")
finally:
    tessera.stop()
