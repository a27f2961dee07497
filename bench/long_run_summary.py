#!/usr/bin/env python3
"""Summary of one bench/long_run.sh run: a table on stdout, summary.json and per_minute.csv.

Inputs (all in the run's out dir, written by long_run.sh): process.csv and gameday_rusage.json
(long_run_monitor.py run), lateness.json (long_run_analyze.py), render.json (long_run_monitor.py
run), run.json (what was run) and the report dir. With --check every target is enforced; with
--check-memory only the memory ones (the CI short form). The exit code is 1 when an enforced
target is missed, or when a check runs on a failed run or one without samples.

Targets (issue 12, "How we will know"); each limit can be moved by its environment variable:
  peak RSS (sampling and the reports)       < GAMEDAY_BENCH_MAX_RSS_MB (100)
  RSS growth, first to last third of the sampling
                                            < GAMEDAY_BENCH_MAX_RSS_GROWTH_MB (10)
  mean CPU while sampling                   < GAMEDAY_BENCH_MAX_CPU_CORES (0.5)
  lateness p99, overall and in every window < GAMEDAY_BENCH_MAX_LATENESS_P99_MS (2)
  skipped slots                             <= GAMEDAY_BENCH_MAX_SKIPPED (0)
  report render                             < GAMEDAY_BENCH_MAX_RENDER_S (2)
  report.html                               < GAMEDAY_BENCH_MAX_REPORT_MB (10)
"""

import argparse
import csv
import json
import os
import sys

MB = 1024 * 1024

# name -> (environment variable, default limit, unit, memory target?)
TARGETS = {
    "peak_rss_mb": ("GAMEDAY_BENCH_MAX_RSS_MB", 100.0, "MB", True),
    "rss_growth_mb": ("GAMEDAY_BENCH_MAX_RSS_GROWTH_MB", 10.0, "MB", True),
    "cpu_cores_mean": ("GAMEDAY_BENCH_MAX_CPU_CORES", 0.5, "cores", False),
    "lateness_p99_ms": ("GAMEDAY_BENCH_MAX_LATENESS_P99_MS", 2.0, "ms", False),
    "lateness_p99_worst_window_ms": ("GAMEDAY_BENCH_MAX_LATENESS_P99_MS", 2.0, "ms", False),
    "skipped_slots": ("GAMEDAY_BENCH_MAX_SKIPPED", 0.0, "slots", False),
    "render_s": ("GAMEDAY_BENCH_MAX_RENDER_S", 2.0, "s", False),
    "report_html_mb": ("GAMEDAY_BENCH_MAX_REPORT_MB", 10.0, "MB", False),
}


def limit_of(name):
    env, default, _, _ = TARGETS[name]
    text = os.environ.get(env)
    if text is None or text == "":
        return default, False
    try:
        return float(text), True
    except ValueError:
        raise SystemExit(f"{env}={text!r}: expected a number")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_process(path):
    """Rows of process.csv as dicts of floats (empty cells: None)."""
    rows = []
    try:
        with open(path, newline="", encoding="ascii") as f:
            for row in csv.DictReader(f):
                rows.append({k: (float(v) if v not in ("", None) else None)
                             for k, v in row.items()})
    except OSError:
        pass
    return rows


def rss_at(rows, t_s, tolerance_s):
    """RSS in MB of the row nearest to t_s, if one lies within tolerance_s."""
    best = min(rows, key=lambda r: abs(r["t_s"] - t_s), default=None)
    if best is None or abs(best["t_s"] - t_s) > tolerance_s:
        return None
    return round(best["rss_kb"] / 1024, 1)


def memory_figures(rows, marks, every_s, sampling_end_s=None, max_rss_kb=None):
    """Memory and CPU figures from the /proc rows.

    peak_rss_mb is the largest of every VmHWM read and the exact peak from wait4 (max_rss_kb),
    which also sees a spike after the last row (writing the reports). The growth compares the
    first and last thirds of the sampling phase only (rows up to sampling_end_s, the last t_send:
    process age runs slightly ahead of experiment time, so those rows all lie in it): the reports
    written at the end are a one-off that peak_rss_mb covers, not growth with the run length.
    """
    if not rows:
        return {}
    peak_kb = max(max(r["hwm_kb"], r["rss_kb"]) for r in rows)
    if max_rss_kb:
        peak_kb = max(peak_kb, max_rss_kb)
    sampling = [r for r in rows if sampling_end_s is None or r["t_s"] <= sampling_end_s] or rows
    out = {
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_rss_sampling_mb": round(max(r["rss_kb"] for r in sampling) / 1024, 1),
        "final_rss_mb": round(rows[-1]["rss_kb"] / 1024, 1),
        "rss_at_mb": {f"{m:g}s": rss_at(rows, m, max(every_s * 1.5, 1.0)) for m in marks},
    }
    # Growth: the largest RSS in the last third minus the largest in the first third. Maxima, so
    # that a short dip (a free returned to the kernel) does not read as growth.
    end = sampling[-1]["t_s"]
    first = [r["rss_kb"] for r in sampling if r["t_s"] <= end / 3]
    last = [r["rss_kb"] for r in sampling if r["t_s"] >= 2 * end / 3]
    if first and last:
        out["rss_first_third_max_mb"] = round(max(first) / 1024, 1)
        out["rss_last_third_max_mb"] = round(max(last) / 1024, 1)
        out["rss_growth_mb"] = round((max(last) - max(first)) / 1024, 1)
    # CPU over the sampling phase, from the first row on (start-up is not the steady cost).
    span = sampling[-1]["t_s"] - sampling[0]["t_s"]
    if len(sampling) >= 2 and span > 0:
        out["cpu_cores_mean"] = round((sampling[-1]["cpu_s"] - sampling[0]["cpu_s"]) / span, 3)
        if (sampling[-1].get("haproxy_cpu_s") is not None and
                sampling[0].get("haproxy_cpu_s") is not None):
            out["haproxy_cpu_cores_mean"] = round(
                (sampling[-1]["haproxy_cpu_s"] - sampling[0]["haproxy_cpu_s"]) / span, 3)
    return out


def per_minute(rows, lateness):
    """One row per minute of the run: memory and CPU (process time) and the lateness window of
    the same minute (experiment time, which starts a fraction of a second later)."""
    windows = {int(w["start_s"] // 60): w for w in (lateness or {}).get("windows", [])
               if lateness.get("window_s") == 60}
    minutes = sorted({int(r["t_s"] // 60) for r in rows} | set(windows))
    out = []
    for m in minutes:
        in_minute = [r for r in rows if int(r["t_s"] // 60) == m]
        row = {"minute": m}
        if in_minute:
            row["rss_mb"] = round(in_minute[-1]["rss_kb"] / 1024, 1)
            row["hwm_mb"] = round(in_minute[-1]["hwm_kb"] / 1024, 1)
            before = [r for r in rows if r["t_s"] < m * 60]
            start = before[-1] if before else rows[0]
            span = in_minute[-1]["t_s"] - start["t_s"]
            row["cpu_cores"] = (round((in_minute[-1]["cpu_s"] - start["cpu_s"]) / span, 3)
                                if span > 0 else None)
        w = windows.get(m)
        if w:
            for k in ("samples", "skipped_slots", "failing", "unknown", "lateness_p50_ms",
                      "lateness_p99_ms", "lateness_max_ms"):
                row[k] = w.get(k)
        out.append(row)
    return out


def file_sizes(report_dir):
    sizes = {}
    if report_dir and os.path.isdir(report_dir):
        for root, _, files in os.walk(report_dir):
            for name in files:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, report_dir)
                try:
                    sizes[rel] = os.path.getsize(path)
                except OSError:
                    pass
    return dict(sorted(sizes.items()))


def evaluate(summary, enforce):
    """Fills summary["targets"]; returns the names of enforced targets that were missed."""
    missed = []
    targets = {}
    for name, (env, _, unit, memory) in TARGETS.items():
        limit, overridden = limit_of(name)
        value = summary.get(name)
        if name == "skipped_slots":
            ok = value is not None and value <= limit
        else:
            ok = value is not None and value < limit
        enforced = enforce == "all" or (enforce == "memory" and memory)
        targets[name] = {"value": value, "limit": limit, "unit": unit, "ok": ok,
                         "enforced": enforced, "limit_from": env if overridden else "default"}
        if enforced and not ok:
            missed.append(name)
    # A run that did not finish cleanly measured something else: it fails any check.
    exit_code = summary.get("run", {}).get("exit_code")
    if enforce != "none" and exit_code != 0:
        missed.append(f"gameday run exit code {exit_code}")
    if enforce != "none" and not summary.get("samples"):
        missed.append("no samples")
    summary["targets"] = targets
    return missed


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_table(summary):
    run = summary.get("run", {})
    print(f"\nlong-run bench: {run.get('verifiers')} http verifiers every {run.get('interval_ms')} "
          f"ms for {run.get('seconds')} s; gameday {run.get('gameday')} "
          f"(exit {run.get('exit_code')})")
    print(f"  RSS at: " + ", ".join(f"{k} {fmt(v)} MB" for k, v in
                                     summary.get("rss_at_mb", {}).items()))
    print(f"  while sampling: peak RSS {fmt(summary.get('peak_rss_sampling_mb'))} MB, largest "
          f"RSS of the first / last third {fmt(summary.get('rss_first_third_max_mb'))} / "
          f"{fmt(summary.get('rss_last_third_max_mb'))} MB; last reading "
          f"{fmt(summary.get('final_rss_mb'))} MB; peak with the reports written "
          f"{fmt(summary.get('peak_rss_mb'))} MB")
    slots = (summary.get("samples") or 0) + (summary.get("skipped_slots") or 0)
    sent = f"{100 * summary['samples'] / slots:.1f} % of the slots" if slots else "no slots"
    print(f"  samples {fmt(summary.get('samples'))} ({sent}, {summary.get('samples_source')}); "
          f"health {summary.get('health')}; duplicate slots {fmt(summary.get('duplicate_slots'))}; "
          f"lateness p50 {fmt(summary.get('lateness_p50_ms'))} ms, max "
          f"{fmt(summary.get('lateness_max_ms'))} ms; probe latency p50/p99 "
          f"{fmt(summary.get('probe_latency_ms', {}).get('p50'))}/"
          f"{fmt(summary.get('probe_latency_ms', {}).get('p99'))} ms")
    if summary.get("haproxy_cpu_cores_mean") is not None:
        print(f"  haproxy CPU {fmt(summary['haproxy_cpu_cores_mean'])} cores")
    sizes = summary.get("report_files", {})
    print("  report files: " + ", ".join(f"{k} {v / MB:.2f} MB" for k, v in sizes.items()))
    render = summary.get("render") or {}
    render_mb = round(render["max_rss_kb"] / 1024, 1) if render.get("max_rss_kb") else None
    print(f"  render: {fmt(render.get('wall_s'))} s ({fmt(render.get('cpu_s'))} s of CPU), "
          f"peak RSS {fmt(render_mb)} MB, exit {fmt(render.get('exit_code'))}")
    print(f"  {'figure':<30} {'value':>12} {'target':>12}  result")
    for name, t in summary["targets"].items():
        verdict = "ok" if t["ok"] else ("MISSED" if t["enforced"] else "missed (not enforced)")
        note = "" if t["limit_from"] == "default" else f"  (limit from {t['limit_from']})"
        op = "<=" if name == "skipped_slots" else "<"
        target = f"{op} {fmt(t['limit'])} {t['unit']}"
        print(f"  {name:<30} {fmt(t['value']):>12} {target:>12}"
              f"  {verdict}{note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--marks", default="",
                        help="comma-separated seconds at which to report RSS")
    parser.add_argument("--every", type=float, default=5.0, help="the monitor's period (s)")
    enforce = parser.add_mutually_exclusive_group()
    enforce.add_argument("--check", action="store_true", help="enforce every target")
    enforce.add_argument("--check-memory", action="store_true",
                         help="enforce the memory targets only (peak RSS, growth)")
    args = parser.parse_args()
    marks = [float(m) for m in args.marks.split(",") if m.strip()]

    out = args.out_dir
    rows = read_process(os.path.join(out, "process.csv"))
    lateness = read_json(os.path.join(out, "lateness.json")) or {}
    render = read_json(os.path.join(out, "render.json"))
    run = read_json(os.path.join(out, "run.json")) or {}

    rusage = read_json(os.path.join(out, "gameday_rusage.json")) or {}
    summary = {"run": run, "gameday_rusage": rusage}
    summary.update(memory_figures(rows, marks, args.every, lateness.get("t_send_last_s"),
                                  rusage.get("max_rss_kb")))
    for k in ("samples", "health", "skipped_slots", "skipped_slots_worst_verifier",
              "duplicate_slots", "bad_rows", "lateness_p50_ms", "lateness_p99_ms",
              "lateness_max_ms", "probe_latency_ms"):
        if k in lateness:
            summary[k] = lateness[k]
    summary["samples_source"] = lateness.get("source")
    p99s = [w["lateness_p99_ms"] for w in lateness.get("windows", [])
            if w.get("lateness_p99_ms") is not None]
    summary["lateness_p99_worst_window_ms"] = max(p99s) if p99s else None
    summary["report_files"] = file_sizes(os.path.join(out, "report"))
    html = summary["report_files"].get("report.html")
    summary["report_html_mb"] = round(html / MB, 2) if html is not None else None
    summary["render"] = render
    if render and render.get("exit_code") == 0:
        summary["render_s"] = render.get("wall_s")
    summary["per_minute"] = per_minute(rows, lateness)

    missed = evaluate(summary, "all" if args.check else "memory" if args.check_memory else "none")
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    columns = ["minute", "rss_mb", "hwm_mb", "cpu_cores", "samples", "skipped_slots", "failing",
               "unknown", "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms"]
    with open(os.path.join(out, "per_minute.csv"), "w", newline="", encoding="ascii") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in summary["per_minute"]:
            writer.writerow(row)
    print_table(summary)
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
