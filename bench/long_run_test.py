#!/usr/bin/env python3
"""Tests of the long-run bench's Python parts (standard library unittest; ctest runs them)."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import long_run_analyze as analyze  # noqa: E402
import long_run_monitor as monitor  # noqa: E402
import long_run_summary as summary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def result_doc(verifiers):
    """A minimal result.json with inline samples: verifiers is {name: [(t_send, health), ...]}."""
    return {"experiments": [{"name": "exp", "verifiers": [
        {"name": name, "interval_s": 0.01, "sample_count": len(samples),
         "samples": {"t_send": [t for t, _ in samples], "t_done": [t + 0.001 for t, _ in samples],
                     "health": "".join(h for _, h in samples),
                     "latency_ms": [1.0] * len(samples), "value": None, "detail": {}}}
        for name, samples in verifiers.items()]}]}


# Two verifiers at 10 ms. "a" sends slots 0..9 0.1 ms late except slot 5 (3 ms late) and skips
# slot 7; "b" sends slots 0..10 (its last slot is the group's last, which is not counted).
SAMPLES = {
    "a": [(k * 0.01 + (0.003 if k == 5 else 0.0001), "F" if k == 3 else "H")
          for k in range(10) if k != 7],
    "b": [(k * 0.01 + 0.0002, "H") for k in range(11)],
}


def as_csv(verifiers):
    lines = ["experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail"]
    for name, samples in verifiers.items():
        for t, h in samples:
            word = {"H": "healthy", "F": "unhealthy", "U": "unknown"}[h]
            lines.append(f"exp,{name},{t:.6f},{t + 0.001:.6f},{word},1.0,,")
    return "\n".join(lines) + "\n"


class HistogramTest(unittest.TestCase):
    def test_nearest_rank_quantiles_are_exact_in_microseconds(self):
        h = analyze.Histogram()
        for us in range(1, 101):
            h.add(us)
        self.assertEqual(h.quantile(0.5), 50)
        self.assertEqual(h.quantile(0.99), 99)
        self.assertEqual(h.quantile(1.0), 100)
        self.assertEqual(h.max, 100)

    def test_large_values_land_in_coarse_buckets_and_the_maximum_stays_exact(self):
        h = analyze.Histogram()
        h.add(10)
        h.add(123_456)
        self.assertEqual(h.quantile(0.5), 10)
        self.assertEqual(h.quantile(1.0), 123_456)
        other = analyze.Histogram()
        other.add(5)
        h.merge(other)
        self.assertEqual((h.count, h.quantile(0.01)), (3, 5))

    def test_empty_has_no_quantile(self):
        self.assertIsNone(analyze.Histogram().quantile(0.5))


class SlotMapTest(unittest.TestCase):
    def test_missing_slots_and_duplicates(self):
        slots = analyze.SlotMap()
        for k in [0, 1, 2, 4, 20, 3]:
            self.assertTrue(slots.mark(k))
        self.assertFalse(slots.mark(4))
        self.assertEqual((slots.first, slots.last, slots.distinct), (0, 20, 6))
        self.assertEqual(list(slots.missing(0, 22)), list(range(5, 20)) + [21, 22])


class AnalyzeTest(unittest.TestCase):
    def check(self, report):
        self.assertEqual(report["samples"], 20)
        self.assertEqual(report["verifiers"], 2)
        self.assertEqual(report["skipped_slots"], 1)  # a's slot 7; a's slot 10 is the group's last
        self.assertEqual(report["skipped_slots_worst_verifier"], ["exp/a", 1])
        self.assertEqual(report["duplicate_slots"], 0)
        self.assertEqual(report["health"], {"healthy": 19, "failing": 1})
        self.assertEqual(report["lateness_p50_ms"], 0.2)
        self.assertEqual(report["lateness_max_ms"], 3.0)
        # 20 samples: the 99th percentile is the largest.
        self.assertEqual(report["lateness_p99_ms"], 3.0)
        windows = {w["start_s"]: w for w in report["windows"]}
        self.assertEqual(sorted(windows), [0.0, 0.05, 0.1])
        self.assertEqual(windows[0.05]["skipped_slots"], 1)
        self.assertEqual(windows[0.0]["failing"], 1)

    def run_tool(self, *args, stdin=None):
        out = subprocess.run([sys.executable, os.path.join(HERE, "long_run_analyze.py"), *args],
                             input=stdin, capture_output=True, text=True, check=False)
        return out.returncode, out.stdout, out.stderr

    def test_inline_result_and_csv_give_the_same_figures(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            with open(path, "w") as f:
                json.dump(result_doc(SAMPLES), f)
            code, out, err = self.run_tool("--result", path, "--window-s", "0.05")
            self.assertEqual(code, 0, err)
            inline = json.loads(out)
            self.assertEqual(inline["source"], "inline")
            self.check(inline)
            code, out, err = self.run_tool("--samples-csv", "-", "--interval-ms", "10",
                                           "--window-s", "0.05", stdin=as_csv(SAMPLES))
            self.assertEqual(code, 0, err)
            from_csv = json.loads(out)
            self.assertEqual(from_csv["source"], "csv")
            self.check(from_csv)

    def test_result_without_inline_samples_reads_the_csv(self):
        doc = result_doc(SAMPLES)
        for v in doc["experiments"][0]["verifiers"]:
            v["samples"] = {"store": "samples.db"}  # whatever the store reference looks like
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            csv_path = os.path.join(tmp, "samples.csv")
            with open(path, "w") as f:
                json.dump(doc, f)
            with open(csv_path, "w") as f:
                f.write(as_csv(SAMPLES))
            code, out, err = self.run_tool("--result", path, "--samples-csv", csv_path,
                                           "--window-s", "0.05")
            self.assertEqual(code, 0, err)
            self.check(json.loads(out))
            code, _, err = self.run_tool("--result", path)
            self.assertNotEqual(code, 0)
            self.assertIn("--samples-csv", err)

    def test_gameday_command_supplies_the_csv(self):
        doc = result_doc(SAMPLES)
        for v in doc["experiments"][0]["verifiers"]:
            v["samples"] = None
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            with open(path, "w") as f:
                json.dump(doc, f)
            fake = os.path.join(tmp, "gameday")
            csv_path = os.path.join(tmp, "samples.csv")
            with open(csv_path, "w") as f:
                f.write(as_csv(SAMPLES))
            # Prints the CSV only when called as `report samples RESULT --format csv`.
            with open(fake, "w") as f:
                f.write(f'#!/bin/sh\n[ "$1 $2 $3 $4 $5" = "report samples {path} --format csv" ]'
                        f' && exec cat {csv_path}\nexit 9\n')
            os.chmod(fake, 0o755)
            code, out, err = self.run_tool("--result", path, "--gameday", fake,
                                           "--window-s", "0.05")
            self.assertEqual(code, 0, err)
            self.check(json.loads(out))

    def test_a_bad_csv_is_refused_with_a_reason_and_bad_rows_are_counted(self):
        code, _, err = self.run_tool("--samples-csv", "-", "--interval-ms", "10",
                                     stdin="a,b,c\n1,2,3\n")
        self.assertNotEqual(code, 0)
        self.assertIn("header", err)
        code, out, err = self.run_tool(
            "--samples-csv", "-", "--interval-ms", "10",
            stdin=as_csv({"a": [(0.0001, "H")]}) + "exp,a,not-a-number,,healthy,1,,\nexp,a\n")
        self.assertEqual(code, 0, err)
        report = json.loads(out)
        self.assertEqual((report["samples"], report["bad_rows"]), (1, 2))

    def test_csv_without_any_interval_is_refused(self):
        code, _, err = self.run_tool("--samples-csv", "-", stdin=as_csv(SAMPLES))
        self.assertNotEqual(code, 0)
        self.assertIn("interval", err)

    def test_not_a_result_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            with open(path, "w") as f:
                f.write("[1, 2")
            code, _, err = self.run_tool("--result", path)
            self.assertNotEqual(code, 0)
            self.assertIn(path, err)


class MonitorTest(unittest.TestCase):
    def test_reads_its_own_process(self):
        rss, hwm = monitor.read_status(os.getpid())
        self.assertGreater(rss, 0)
        self.assertGreaterEqual(hwm, rss)
        self.assertGreaterEqual(monitor.read_cpu_seconds(os.getpid()), 0)
        offset = monitor.start_offset(os.getpid())
        self.assertIsNotNone(offset)
        self.assertGreaterEqual(time.monotonic() + offset, 0)  # this process's age

    def test_a_gone_process_reads_as_none(self):
        child = subprocess.Popen(["true"])
        child.wait()
        self.assertIsNone(monitor.read_status(child.pid))
        self.assertIsNone(monitor.read_cpu_seconds(child.pid))

    def test_watch_until_the_process_ends_and_time_a_command(self):
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = os.path.join(tmp, "p.csv")
            sleeper = subprocess.Popen(["sleep", "4"])
            watcher = subprocess.run(
                [sys.executable, os.path.join(HERE, "long_run_monitor.py"), "watch",
                 str(sleeper.pid), csv_path, "--every", "0.3"], timeout=30, check=True)
            sleeper.wait()
            self.assertEqual(watcher.returncode, 0)
            with open(csv_path) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "t_s,rss_kb,hwm_kb,cpu_s")
            self.assertGreaterEqual(len(lines), 3)
            ages = [float(line.split(",")[0]) for line in lines[1:]]
            self.assertEqual(ages, sorted(ages))
            self.assertLess(ages[-1], 8)

    def test_run_samples_its_command_and_records_its_exit_and_peak(self):
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = os.path.join(tmp, "p.csv")
            json_path = os.path.join(tmp, "t.json")
            pid_path = os.path.join(tmp, "pid")
            # Touches 40 MB just before it ends, most likely after the last row: wait4 sees it.
            script = ("import sys, time; time.sleep(1.5); x = bytearray(40 << 20); "
                      "x[::4096] = b'1' * len(x[::4096]); sys.exit(3)")
            runner = subprocess.run(
                [sys.executable, os.path.join(HERE, "long_run_monitor.py"), "run", "--rusage",
                 json_path, "--csv", csv_path, "--every", "0.5", "--pid-file", pid_path, "--",
                 sys.executable, "-c", script], timeout=30, check=False)
            self.assertEqual(runner.returncode, 3)
            with open(json_path) as f:
                timed = json.load(f)
            self.assertEqual(timed["exit_code"], 3)
            self.assertGreater(timed["max_rss_kb"], 40 << 10)
            self.assertGreaterEqual(timed["wall_s"], 1.0)
            with open(pid_path) as f:
                self.assertTrue(f.read().strip().isdigit())
            with open(csv_path) as f:
                lines = f.read().splitlines()
            self.assertGreaterEqual(len(lines), 2)

    def test_run_passes_a_stop_request_on(self):
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "t.json")
            pid_path = os.path.join(tmp, "pid")
            runner = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "long_run_monitor.py"), "run", "--rusage",
                 json_path, "--pid-file", pid_path, "--", "sleep", "30"])
            deadline = time.monotonic() + 20
            while not os.path.exists(pid_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            runner.terminate()
            self.assertEqual(runner.wait(timeout=10), 128 + 15)
            with open(json_path) as f:
                self.assertEqual(json.load(f)["exit_code"], -15)


def rows(rss_mb_by_second):
    return [{"t_s": float(t), "rss_kb": mb * 1024.0, "hwm_kb": mb * 1024.0, "cpu_s": t * 0.25}
            for t, mb in rss_mb_by_second]


class SummaryTest(unittest.TestCase):
    def test_growth_peak_cpu_and_marks(self):
        figures = summary.memory_figures(rows([(0, 40), (10, 50), (20, 60), (30, 80)]),
                                         [10, 30, 100], 5)
        self.assertEqual(figures["peak_rss_mb"], 80)
        self.assertEqual(figures["rss_growth_mb"], 30)  # 80 (last third) - 50 (first third)
        self.assertEqual(figures["cpu_cores_mean"], 0.25)
        self.assertEqual(figures["rss_at_mb"], {"10s": 50, "30s": 80, "100s": None})

    def test_growth_counts_the_sampling_only_and_the_peak_everything(self):
        # Flat while sampling (to 30 s), then the reports: a spike /proc saw and one only wait4 saw.
        figures = summary.memory_figures(
            rows([(0, 50), (10, 52), (20, 52), (30, 51), (35, 90)]), [], 5, sampling_end_s=31,
            max_rss_kb=120 * 1024)
        self.assertEqual(figures["rss_growth_mb"], 0)  # 52 - 52
        self.assertEqual(figures["peak_rss_sampling_mb"], 52)
        self.assertEqual(figures["peak_rss_mb"], 120)
        self.assertEqual(figures["final_rss_mb"], 90)

    def test_memory_check_enforces_only_memory_targets_and_env_moves_limits(self):
        figures = {"run": {"exit_code": 0}, "samples": 10, "peak_rss_mb": 90.0,
                   "rss_growth_mb": 30.0, "cpu_cores_mean": 3.0}
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop("GAMEDAY_BENCH_MAX_RSS_GROWTH_MB", None)
            self.assertEqual(summary.evaluate(dict(figures), "memory"), ["rss_growth_mb"])
            missed = summary.evaluate(dict(figures), "all")
            self.assertIn("cpu_cores_mean", missed)
            self.assertIn("render_s", missed)  # not measured is not met
            self.assertEqual(summary.evaluate(dict(figures), "none"), [])
        with mock.patch.dict(os.environ, {"GAMEDAY_BENCH_MAX_RSS_GROWTH_MB": "50"}):
            checked = dict(figures)
            self.assertEqual(summary.evaluate(checked, "memory"), [])
            self.assertEqual(checked["targets"]["rss_growth_mb"]["limit_from"],
                             "GAMEDAY_BENCH_MAX_RSS_GROWTH_MB")

    def test_a_failed_run_fails_any_check(self):
        figures = {"run": {"exit_code": 3}, "samples": 10, "peak_rss_mb": 1.0,
                   "rss_growth_mb": 0.0}
        self.assertEqual(summary.evaluate(dict(figures), "memory"),
                         ["gameday run exit code 3"])

    def test_a_bad_limit_is_refused(self):
        with mock.patch.dict(os.environ, {"GAMEDAY_BENCH_MAX_RSS_MB": "lots"}):
            with self.assertRaises(SystemExit):
                summary.evaluate({"run": {"exit_code": 0}}, "memory")

    def test_per_minute_joins_memory_and_lateness(self):
        process = rows([(0, 40), (30, 45), (60, 50), (90, 55), (119, 56)])
        lateness = {"window_s": 60, "windows": [
            {"start_s": 0, "samples": 5, "skipped_slots": 1, "lateness_p99_ms": 0.5},
            {"start_s": 60, "samples": 6, "skipped_slots": 0, "lateness_p99_ms": 0.7}]}
        minutes = summary.per_minute(process, lateness)
        self.assertEqual([m["minute"] for m in minutes], [0, 1])
        self.assertEqual(minutes[0]["rss_mb"], 45)
        self.assertEqual(minutes[1]["rss_mb"], 56)
        self.assertEqual(minutes[1]["lateness_p99_ms"], 0.7)
        self.assertEqual(minutes[1]["cpu_cores"], 0.25)


if __name__ == "__main__":
    unittest.main()
