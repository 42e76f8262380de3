#!/usr/bin/env python3
"""Time commands for the benchmarks in scripts/bench.d/, interleaved: RUNS rounds, each
running every command once (after its setup, which is not timed), so that load from
elsewhere on the machine falls on all of them alike. Prints one line per command:

    NAME MEDIAN_WALL_S MEDIAN_CPU_S MAX_RSS_KIB WALLS CPUS

CPU is user+sys of the command and every child it waited for (wait4 rusage): it shows
the work done even when other load steals cores. Peak RSS comes from /usr/bin/time. WALLS and CPUS are the per-run figures,
comma-separated. Commands and setups are shell strings (run by /bin/sh); `{run}` in them
is replaced by the round number (e.g. a fresh destination per run).

usage: measure.py RUNS NAME SETUP CMD [NAME SETUP CMD ...]   (SETUP "" for none)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


TIME = "/usr/bin/time"


def run_one(cmd):
    # Peak RSS through /usr/bin/time: a child forked from this Python process inherits
    # its high-water mark, so our own wait4 figure would never go below Python's RSS.
    argv = ["/bin/sh", "-c", "exec " + cmd]
    rss_file = None
    if os.access(TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="measure-rss-")
        os.close(fd)
        argv = [TIME, "-f", "%M", "-o", rss_file] + argv
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.perf_counter()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    p.returncode = code
    if code != 0:
        sys.stderr.write(f"command failed ({code}): {cmd}\n{err.decode(errors='replace')}")
        sys.exit(1)
    rss = ru.ru_maxrss
    if rss_file:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
        os.unlink(rss_file)
    return t1 - t0, ru.ru_utime + ru.ru_stime, rss


def main():
    args = sys.argv[1:]
    if len(args) < 4 or (len(args) - 1) % 3:
        sys.exit(__doc__)
    runs = int(args[0])
    cmds = [args[i:i + 3] for i in range(1, len(args), 3)]
    res = {name: ([], [], 0) for name, _, _ in cmds}
    for r in range(1, runs + 1):
        for name, setup, cmd in cmds:
            if setup:
                subprocess.run(setup.replace("{run}", str(r)), shell=True, check=True)
            w, c, m = run_one(cmd.replace("{run}", str(r)))
            walls, cpus, rss = res[name]
            walls.append(w)
            cpus.append(c)
            res[name] = (walls, cpus, max(rss, m))
    fmt = lambda xs: ",".join(f"{x:.3f}" for x in xs)
    for name, _, _ in cmds:
        walls, cpus, rss = res[name]
        print(f"{name} {statistics.median(walls):.4f} {statistics.median(cpus):.4f} {rss} "
              f"{fmt(walls)} {fmt(cpus)}")


if __name__ == "__main__":
    main()
