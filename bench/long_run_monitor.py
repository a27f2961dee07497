#!/usr/bin/env python3
"""Process measurements for bench/long_run.sh (Python 3 standard library only).

  long_run_monitor.py watch PID CSV [--every S] [--extra NAME=PID ...]
      Appends one row every S seconds with the process's resident set (VmRSS), its high-water
      mark (VmHWM) and its CPU time (utime + stime of all threads, in seconds), until the process
      is gone. Rows: t_s,rss_kb,hwm_kb,cpu_s[,NAME_rss_kb,NAME_cpu_s ...]. t_s is the process's
      age (from its start time in /proc, to 10 ms), so rows line up with its own timeline.
      Never signals the process: it only reads /proc.

  long_run_monitor.py time JSON -- COMMAND...
      Runs COMMAND and writes {"wall_s", "cpu_s", "max_rss_kb", "exit_code"} of exactly that
      child (wait4), whatever else this process has started.
"""

import argparse
import json
import os
import subprocess
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_status(pid):
    """(VmRSS, VmHWM) in kB, or None once the process is gone (or a zombie without memory)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if "VmRSS" not in fields:
        return None
    return int(fields["VmRSS"].split()[0]), int(fields.get("VmHWM", "0 kB").split()[0])


def read_stat(pid):
    """Fields 3 and on of /proc/PID/stat (rest[0] is field 3); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(")") + 2:].split()


def read_cpu_seconds(pid):
    """utime + stime (fields 14 and 15) of every thread of the process, in seconds."""
    rest = read_stat(pid)
    return None if rest is None else (int(rest[11]) + int(rest[12])) / CLOCK_TICKS


def start_offset(pid):
    """The process's age minus time.monotonic(): monotonic() + this is its age at any moment.

    /proc/uptime and the start time (field 22) both count from boot."""
    rest = read_stat(pid)
    if rest is None:
        return None
    with open("/proc/uptime", encoding="ascii") as f:
        uptime = float(f.read().split()[0])
    return uptime - int(rest[19]) / CLOCK_TICKS - time.monotonic()


def watch(args):
    extras = []
    for item in args.extra:
        name, _, pid = item.partition("=")
        if not name or not pid.isdigit():
            sys.exit(f"--extra: expected NAME=PID, got {item!r}")
        extras.append((name, int(pid)))
    header = ["t_s", "rss_kb", "hwm_kb", "cpu_s"]
    for name, _ in extras:
        header += [f"{name}_rss_kb", f"{name}_cpu_s"]
    offset = start_offset(args.pid)
    if offset is None:
        return 0
    next_row = time.monotonic()
    with open(args.csv, "w", encoding="ascii") as out:
        out.write(",".join(header) + "\n")
        while True:
            status = read_status(args.pid)
            cpu = read_cpu_seconds(args.pid)
            if status is None or cpu is None:
                break
            row = [f"{time.monotonic() + offset:.3f}", str(status[0]), str(status[1]), f"{cpu:.2f}"]
            for _, pid in extras:
                extra_status = read_status(pid)
                extra_cpu = read_cpu_seconds(pid)
                row += [str(extra_status[0]) if extra_status else "",
                        f"{extra_cpu:.2f}" if extra_cpu is not None else ""]
            out.write(",".join(row) + "\n")
            out.flush()
            next_row += args.every
            # Sleep in short steps so that the end of the process is noticed promptly.
            while time.monotonic() < next_row:
                if not os.path.exists(f"/proc/{args.pid}"):
                    return 0
                time.sleep(min(0.25, max(0.0, next_row - time.monotonic())))
    return 0


def time_command(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("time: no command given")
    start = time.monotonic()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    result = {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_kb": usage.ru_maxrss,
        "exit_code": child.returncode,
    }
    with open(args.json, "w", encoding="ascii") as out:
        json.dump(result, out)
        out.write("\n")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch", help="sample a process's memory and CPU from /proc")
    w.add_argument("pid", type=int)
    w.add_argument("csv")
    w.add_argument("--every", type=float, default=5.0, help="seconds between rows (default 5)")
    w.add_argument("--extra", action="append", default=[], metavar="NAME=PID",
                   help="also record this process's RSS and CPU (e.g. haproxy=1234)")
    t = sub.add_parser("time", help="run a command; record its wall time, CPU and peak RSS")
    t.add_argument("json")
    t.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.cmd == "watch":
        if args.every <= 0:
            sys.exit("--every must be > 0")
        return watch(args)
    return time_command(args)


if __name__ == "__main__":
    sys.exit(main())
