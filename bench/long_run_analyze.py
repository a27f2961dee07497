#!/usr/bin/env python3
"""Schedule lateness and skipped slots of a gameday run, computed from its samples alone.

The probe loop gives every verifier a drift-free schedule: slot k is due at k * interval after
the experiment's epoch, and a sample's t_send counts seconds from that same epoch
(verifiers/probe/probe_loop.cc: t_send = now - epoch_, deadlines epoch_ + k * interval; the
engine passes its own epoch to Start). A probe leaves at or after its slot and less than one
interval late (later than that, the loop skips ahead to the latest due slot). So a sample belongs
to slot k = floor(t_send / interval), its lateness is t_send - k * interval, and a slot with no
sample between a verifier group's first and last slot was skipped.

Reads the samples from either source, so that it works before and after samples move out of
result.json:
  * inline: result.json's experiments[].verifiers[].samples columns (reports/json_report.cc);
  * CSV: `gameday report samples RESULT.json --format csv`, header
    experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail
    (--samples-csv FILE, '-' for stdin, or --gameday PATH to run that command).
With --source auto (the default), inline samples are used when result.json holds all of them
(as many t_send values as its sample_count), else the CSV.

Memory stays bounded whatever the run length: latencies go into per-window histograms and slots
into one bit per slot per verifier (8 h at 10 ms: 360 kB per verifier).

Writes a JSON document (stdout or --out) with overall and per-window figures.
"""

import argparse
import csv
import io
import json
import math
import subprocess
import sys
from array import array
from collections import Counter

# Lateness histograms: exact microseconds up to this bound, then 100 us buckets.
EXACT_LIMIT_US = 20_000
COARSE_US = 100


class Histogram:
    """Integer microseconds; nearest-rank quantiles, exact below EXACT_LIMIT_US."""

    def __init__(self, typecode="I"):
        # Counts per microsecond, created on first use: empty windows cost nothing. 32-bit counts
        # (80 kB a window) are plenty for one window; merged totals use 64 bits.
        self.typecode = typecode
        self.exact = None
        self.coarse = Counter()
        self.count = 0
        self.max = None

    def add(self, us):
        if us < EXACT_LIMIT_US:
            if self.exact is None:
                self.exact = array(self.typecode, bytes(array(self.typecode).itemsize *
                                                        EXACT_LIMIT_US))
            self.exact[max(us, 0)] += 1
        else:
            self.coarse[us // COARSE_US] += 1
        self.count += 1
        if self.max is None or us > self.max:
            self.max = us

    def merge(self, other):
        if other.exact is not None:
            if self.exact is None:
                self.exact = array(self.typecode, other.exact)
            else:
                for i, n in enumerate(other.exact):
                    if n:
                        self.exact[i] += n
        self.coarse.update(other.coarse)
        self.count += other.count
        if other.max is not None and (self.max is None or other.max > self.max):
            self.max = other.max

    def quantile(self, fraction):
        """The nearest-rank quantile in microseconds; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        if rank >= self.count:
            return self.max
        seen = 0
        if self.exact is not None:
            for us, n in enumerate(self.exact):
                if n:
                    seen += n
                    if seen >= rank:
                        return us
        for bucket in sorted(self.coarse):
            seen += self.coarse[bucket]
            if seen >= rank:
                return min(bucket * COARSE_US + COARSE_US // 2, self.max)
        return self.max


class SlotMap:
    """One bit per schedule slot of one verifier."""

    def __init__(self):
        self.bits = bytearray()
        self.first = None
        self.last = None
        self.distinct = 0

    def mark(self, k):
        """Marks slot k; False when it was already marked (two samples in one slot)."""
        byte, bit = k >> 3, 1 << (k & 7)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if self.bits[byte] & bit:
            return False
        self.bits[byte] |= bit
        self.distinct += 1
        self.first = k if self.first is None else min(self.first, k)
        self.last = k if self.last is None else max(self.last, k)
        return True

    def missing(self, lo, hi):
        """Yields every unmarked slot in [lo, hi]."""
        k = lo
        while k <= hi:
            byte = k >> 3
            if byte >= len(self.bits):
                yield from range(k, hi + 1)
                return
            if k & 7 == 0 and self.bits[byte] == 0xFF and k + 7 <= hi:
                k += 8
                continue
            if not self.bits[byte] & (1 << (k & 7)):
                yield k
            k += 1


HEALTH = {
    "h": "healthy", "healthy": "healthy", "pass": "healthy",
    "f": "failing", "unhealthy": "failing", "failing": "failing", "fail": "failing",
    "u": "unknown", "unknown": "unknown",
}


class Analysis:
    def __init__(self, window_s, default_interval_s):
        self.window_s = window_s
        self.default_interval_s = default_interval_s
        self.intervals = {}  # (experiment, verifier) -> interval in us
        self.slots = {}  # (experiment, verifier) -> SlotMap
        self.windows = {}  # window index -> {"lateness": Histogram, "samples", ...}
        self.health = Counter()
        self.latency = Counter()  # probe latency in 10 us buckets
        self.duplicate_slots = 0
        self.bad_rows = 0
        self.samples = 0
        self.t_first = None
        self.t_last = None

    def interval_us(self, key):
        us = self.intervals.get(key)
        if us is None:
            if self.default_interval_s is None:
                raise SystemExit(f"no interval known for verifier {key[0]}/{key[1]}: "
                                 "give --interval-ms or --result")
            us = self.intervals[key] = round(self.default_interval_s * 1e6)
        return us

    def window(self, t_s):
        index = int(t_s // self.window_s)
        w = self.windows.get(index)
        if w is None:
            w = self.windows[index] = {"lateness": Histogram(), "samples": 0, "failing": 0,
                                       "unknown": 0, "skipped": 0}
        return w

    def add(self, key, t_send_s, health, latency_ms):
        if t_send_s is None or not math.isfinite(t_send_s) or t_send_s < 0:
            self.bad_rows += 1
            return
        interval = self.interval_us(key)
        t_us = round(t_send_s * 1e6)
        k = t_us // interval
        lateness = t_us - k * interval
        slots = self.slots.get(key)
        if slots is None:
            slots = self.slots[key] = SlotMap()
        if not slots.mark(k):
            self.duplicate_slots += 1
        w = self.window(t_send_s)
        w["lateness"].add(lateness)
        w["samples"] += 1
        state = HEALTH.get(str(health).strip().lower(), "unknown")
        self.health[state] += 1
        if state != "healthy":
            w[state] += 1
        if latency_ms is not None and math.isfinite(latency_ms):
            self.latency[round(latency_ms * 100)] += 1
        self.samples += 1
        self.t_first = t_send_s if self.t_first is None else min(self.t_first, t_send_s)
        self.t_last = t_send_s if self.t_last is None else max(self.t_last, t_send_s)

    def count_skips(self):
        """Missing slots per verifier, over its interval group's common range.

        All verifiers of an experiment start at the same slot and stop in the same loop pass, but
        the last pass may send some of them one slot more than others: the group's last slot is
        left out.
        """
        groups = {}
        for key, slots in self.slots.items():
            if slots.first is None:
                continue
            group = (key[0], self.intervals[key])
            lo, hi = groups.get(group, (slots.first, slots.last))
            groups[group] = (min(lo, slots.first), max(hi, slots.last))
        per_verifier = {}
        for key, slots in self.slots.items():
            if slots.first is None:
                continue
            interval = self.intervals[key]
            lo, hi = groups[(key[0], interval)]
            missing = 0
            for k in slots.missing(lo, hi - 1):
                missing += 1
                self.window(k * interval / 1e6)["skipped"] += 1
            per_verifier[f"{key[0]}/{key[1]}"] = missing
        # Verifiers with an interval but no sample at all: every slot of their group is missing.
        for key, interval in self.intervals.items():
            if key in self.slots or (key[0], interval) not in groups:
                continue
            lo, hi = groups[(key[0], interval)]
            per_verifier[f"{key[0]}/{key[1]}"] = max(0, hi - lo)
        return per_verifier

    def report(self):
        per_verifier = self.count_skips()
        overall = Histogram("Q")
        windows = []
        for index in sorted(self.windows):
            w = self.windows[index]
            overall.merge(w["lateness"])
            windows.append({
                "start_s": index * self.window_s,
                "samples": w["samples"],
                "failing": w["failing"],
                "unknown": w["unknown"],
                "skipped_slots": w["skipped"],
                **lateness_figures(w["lateness"]),
            })
        return {
            "samples": self.samples,
            "verifiers": len(self.intervals),
            "t_send_first_s": self.t_first,
            "t_send_last_s": self.t_last,
            "health": dict(self.health),
            "skipped_slots": sum(per_verifier.values()),
            "skipped_slots_worst_verifier": max(per_verifier.items(), key=lambda kv: kv[1],
                                                default=(None, 0)),
            "duplicate_slots": self.duplicate_slots,
            "bad_rows": self.bad_rows,
            "probe_latency_ms": latency_figures(self.latency),
            "window_s": self.window_s,
            **lateness_figures(overall),
            "windows": windows,
        }


def lateness_figures(h):
    def ms(us):
        return None if us is None else round(us / 1e3, 3)
    return {"lateness_p50_ms": ms(h.quantile(0.50)), "lateness_p99_ms": ms(h.quantile(0.99)),
            "lateness_max_ms": ms(h.max)}


def latency_figures(counter):
    total = sum(counter.values())
    out = {}
    for name, fraction in (("p50", 0.50), ("p99", 0.99), ("max", 1.0)):
        if total == 0:
            out[name] = None
            continue
        rank, seen = max(1, math.ceil(fraction * total)), 0
        for bucket in sorted(counter):
            seen += counter[bucket]
            if seen >= rank:
                out[name] = bucket / 100
                break
    return out


def load_result(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"{path}: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("experiments"), list):
        raise SystemExit(f"{path}: not a gameday result (no experiments list)")
    return doc


def verifiers_of(doc):
    for e in doc["experiments"]:
        if not isinstance(e, dict):
            continue
        for v in e.get("verifiers") or []:
            if isinstance(v, dict):
                yield str(e.get("name", "")), v


def inline_complete(doc):
    """True when result.json holds every sample inline (as many t_send as sample_count)."""
    any_verifier = False
    for _, v in verifiers_of(doc):
        any_verifier = True
        samples = v.get("samples")
        t_send = samples.get("t_send") if isinstance(samples, dict) else None
        if not isinstance(t_send, list):
            return False
        count = v.get("sample_count")
        if isinstance(count, int) and len(t_send) < count:
            return False
    return any_verifier


def read_inline(doc, analysis):
    for experiment, v in verifiers_of(doc):
        key = (experiment, str(v.get("name", "")))
        samples = v.get("samples") if isinstance(v.get("samples"), dict) else {}
        t_send = samples.get("t_send") or []
        health = samples.get("health") or ""
        latency = samples.get("latency_ms") or []
        for i, t in enumerate(t_send):
            h = health[i] if i < len(health) else "U"
            lat = latency[i] if i < len(latency) else None
            analysis.add(key, t if isinstance(t, (int, float)) else None, h,
                         lat if isinstance(lat, (int, float)) else None)


CSV_HEADER = ["experiment", "verifier", "t_send_s", "t_done_s", "health", "latency_ms", "value",
              "detail"]


def number(text):
    try:
        return float(text) if text not in ("", None) else None
    except ValueError:
        return None


def read_csv(stream, analysis):
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise SystemExit("samples CSV: empty (expected a header line)")
    header = [h.strip() for h in header]
    missing = [c for c in ("experiment", "verifier", "t_send_s", "health") if c not in header]
    if missing:
        raise SystemExit(f"samples CSV: header {header} lacks {missing}; expected {CSV_HEADER}")
    col = {name: header.index(name) for name in header}
    latency_col = col.get("latency_ms")
    width = len(header)
    for row in reader:
        if len(row) < width:
            analysis.bad_rows += 1
            continue
        analysis.add((row[col["experiment"]], row[col["verifier"]]),
                     number(row[col["t_send_s"]]), row[col["health"]],
                     number(row[latency_col]) if latency_col is not None else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--result", help="result.json (intervals; inline samples)")
    parser.add_argument("--samples-csv", help="samples as CSV ('-': stdin)")
    parser.add_argument("--gameday", help="gameday binary: run `report samples` for the CSV")
    parser.add_argument("--source", choices=["auto", "inline", "csv"], default="auto")
    parser.add_argument("--interval-ms", type=float,
                        help="interval of verifiers result.json does not describe")
    parser.add_argument("--window-s", type=float, default=60.0,
                        help="width of the per-window figures (default 60)")
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    args = parser.parse_args()
    if args.window_s <= 0:
        parser.error("--window-s must be > 0")
    if args.interval_ms is not None and args.interval_ms <= 0:
        parser.error("--interval-ms must be > 0")

    analysis = Analysis(args.window_s, None if args.interval_ms is None else args.interval_ms / 1e3)
    doc = load_result(args.result) if args.result else None
    if doc is not None:
        for experiment, v in verifiers_of(doc):
            interval = v.get("interval_s")
            if isinstance(interval, (int, float)) and interval > 0:
                analysis.intervals[(experiment, str(v.get("name", "")))] = round(interval * 1e6)

    source = args.source
    if source == "auto":
        source = "inline" if doc is not None and inline_complete(doc) else "csv"
    if source == "inline":
        if doc is None:
            parser.error("--source inline needs --result")
        read_inline(doc, analysis)
    elif args.samples_csv:
        if args.samples_csv == "-":
            read_csv(sys.stdin, analysis)
        else:
            with open(args.samples_csv, newline="", encoding="utf-8") as f:
                read_csv(f, analysis)
    elif args.gameday and args.result:
        command = [args.gameday, "report", "samples", args.result, "--format", "csv"]
        with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
            # newline="": the csv module reads line ends inside quoted fields itself.
            read_csv(io.TextIOWrapper(child.stdout, encoding="utf-8", errors="replace",
                                      newline=""), analysis)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(command)}: exit code {child.returncode}")
    else:
        parser.error("result.json does not hold every sample inline: give --samples-csv, or "
                     "--gameday with --result")

    report = analysis.report()
    report["source"] = source
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
