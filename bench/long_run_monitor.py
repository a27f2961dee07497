#!/usr/bin/env python3
"""Process measurements for bench/long_run.sh (Python 3 standard library only).

  long_run_monitor.py watch PID CSV [--every S] [--extra NAME=PID ...]
      Appends one row every S seconds with the process's resident set (VmRSS), its high-water
      mark (VmHWM) and its CPU time (utime + stime of all threads, in seconds), until the process
      is gone. Rows: t_s,rss_kb,hwm_kb,cpu_s[,NAME_rss_kb,NAME_cpu_s ...]. t_s is the process's
      age (from its start time in /proc, to 10 ms), so rows line up with its own timeline.
      Never signals the process: it only reads /proc.

  long_run_monitor.py run --rusage JSON [--csv CSV --every S --extra ... --pid-file F] -- CMD...
      Runs CMD (passing on SIGTERM, SIGINT and SIGHUP), samples it into CSV as `watch` does, and
      writes {"wall_s", "cpu_s", "max_rss_kb", "exit_code"} of exactly that child (wait4): its
      true peak RSS, even a spike after the last row. Exits with CMD's exit code (128 + signal).
"""

import argparse
import json
import os
import signal
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


def alive(pid):
    """True while the process exists and is not a zombie waiting to be reaped."""
    rest = read_stat(pid)
    return rest is not None and rest[0] not in ("Z", "X")


def parse_extras(items):
    extras = []
    for item in items:
        name, _, pid = item.partition("=")
        if not name or not pid.isdigit():
            sys.exit(f"--extra: expected NAME=PID, got {item!r}")
        extras.append((name, int(pid)))
    return extras


def sample(pid, csv_path, every, extras):
    """Writes a row every `every` seconds until the process has ended."""
    header = ["t_s", "rss_kb", "hwm_kb", "cpu_s"]
    for name, _ in extras:
        header += [f"{name}_rss_kb", f"{name}_cpu_s"]
    offset = start_offset(pid)
    next_row = time.monotonic()
    with open(csv_path, "w", encoding="ascii") as out:
        out.write(",".join(header) + "\n")
        while offset is not None:
            status = read_status(pid)
            cpu = read_cpu_seconds(pid)
            if status is None or cpu is None:
                return
            row = [f"{time.monotonic() + offset:.3f}", str(status[0]), str(status[1]), f"{cpu:.2f}"]
            for _, extra in extras:
                extra_status = read_status(extra)
                extra_cpu = read_cpu_seconds(extra)
                row += [str(extra_status[0]) if extra_status else "",
                        f"{extra_cpu:.2f}" if extra_cpu is not None else ""]
            out.write(",".join(row) + "\n")
            out.flush()
            next_row += every
            # Sleep in short steps so that the end of the process is noticed promptly.
            while time.monotonic() < next_row:
                if not alive(pid):
                    return
                time.sleep(min(0.25, max(0.0, next_row - time.monotonic())))


def watch(args):
    sample(args.pid, args.csv, args.every, parse_extras(args.extra))
    return 0


def run(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("run: no command given")
    extras = parse_extras(args.extra)
    # A stop request for this runner is one for the command: pass it on, then wait for it. One
    # that comes before the command exists is passed on as soon as it does.
    pending = []
    child = None

    def pass_on(signum, _frame):
        if child is None:
            pending.append(signum)
        else:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, pass_on)
    start = time.monotonic()
    child = subprocess.Popen(command)
    for signum in pending:
        child.send_signal(signum)
    if args.pid_file:
        with open(args.pid_file, "w", encoding="ascii") as f:
            f.write(f"{child.pid}\n")
    if args.csv:
        sample(child.pid, args.csv, args.every, extras)
    # wait4 on exactly this child: its own peak RSS (which /proc no longer shows once it is gone,
    # e.g. a spike while writing the reports) and CPU time.
    while True:
        try:
            _, status, usage = os.wait4(child.pid, 0)
            break
        except InterruptedError:
            continue
    child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    result = {
        "wall_s": round(time.monotonic() - start, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_kb": usage.ru_maxrss,
        "exit_code": child.returncode,
    }
    with open(args.rusage, "w", encoding="ascii") as out:
        json.dump(result, out)
        out.write("\n")
    code = child.returncode
    return code if code >= 0 else 128 - code


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
    r = sub.add_parser("run", help="run a command; record its wall time, CPU and peak RSS, and "
                                   "with --csv sample it as `watch` does")
    r.add_argument("--rusage", required=True, help="JSON file for the command's resource usage")
    r.add_argument("--csv", help="sample the command into this CSV")
    r.add_argument("--every", type=float, default=5.0, help="seconds between rows (default 5)")
    r.add_argument("--extra", action="append", default=[], metavar="NAME=PID")
    r.add_argument("--pid-file", help="write the command's pid here")
    r.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.every <= 0:
        sys.exit("--every must be > 0")
    return watch(args) if args.cmd == "watch" else run(args)


if __name__ == "__main__":
    sys.exit(main())
