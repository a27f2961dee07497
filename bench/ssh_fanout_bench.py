#!/usr/bin/env python3
"""The runner of bench/ssh_fanout_bench.sh (read that first): on a test bed that is already up,
stop and start the runit dummy service on every host (and on one) with gameday's service-stop
injector (bench/ssh_fanout_bench.cc), Ansible ad-hoc `-m shell`, and parallel-ssh when it is
installed; checks every phase from outside (`sv status` in each host's namespace) and prints one
markdown table of medians.

Runs under the bench's private virtualenv (it imports parallel-ssh there); Ansible is run as the
`ansible` executable of the same virtualenv.
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

import yaml

# runsv starts a service no sooner than 1 s after its last start: a stop and start right after
# another tool's start would be held back by that, and the figure would be runsv's.
SETTLE_S = 1.5


def die(msg):
    print(f"ssh_fanout_bench: {msg}", file=sys.stderr)
    sys.exit(1)


def load_bed(bed):
    with open(os.path.join(bed, "inventory.yaml"), encoding="utf-8") as f:
        inv = yaml.safe_load(f)
    hosts = []
    for h in inv["hosts"]:
        v = h["vars"]
        hosts.append({"name": h["name"], "address": h["address"], "netns": v["netns"],
                      "dir": v["dummy_service_dir"]})
    return hosts


def states(hosts):
    out = []
    for h in hosts:
        r = subprocess.run(["ip", "netns", "exec", h["netns"], "sv", "status", h["dir"]],
                           capture_output=True, text=True, timeout=30)
        out.append((r.stdout or r.stderr).split(":", 1)[0])
    return out


def expect(hosts, state, who):
    got = states(hosts)
    wrong = [f"{h['name']}: {s}" for h, s in zip(hosts, got) if s != state]
    if wrong:
        die(f"{who}: not {state} on {len(wrong)} hosts: {', '.join(wrong[:5])}")


def write_ansible_inventory(bed, hosts, path):
    key = os.path.join(bed, "id_ed25519")
    known = os.path.join(bed, "known_hosts")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[bench]\n")
        for h in hosts:
            f.write(f"{h['name']} ansible_host={h['address']} dummy_service_dir={h['dir']}\n")
        f.write("[bench:vars]\nansible_user=root\n")
        f.write(f"ansible_ssh_private_key_file={key}\n")
        # The bed's known_hosts, checked strictly, as gameday checks it.
        f.write("ansible_ssh_common_args='-o UserKnownHostsFile=" + known +
                " -o StrictHostKeyChecking=yes'\n")
        # The hosts' Python named, so no interpreter discovery round trip is timed.
        f.write("ansible_python_interpreter=/usr/bin/python3\n")


class Ansible:
    def __init__(self, venv, work, inventory, forks, pipelining):
        self.exe = os.path.join(venv, "bin", "ansible")
        self.work = work
        self.inventory = inventory
        self.forks = forks
        self.pipelining = pipelining
        self.cp = None

    def env(self):
        e = dict(os.environ)
        e.update({
            "ANSIBLE_HOME": os.path.join(self.work, "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.work, "ansible-tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": self.cp,
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_PIPELINING": "True" if self.pipelining else "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
        })
        return e

    def run(self, pattern, command):
        cmd = [self.exe, pattern, "-i", self.inventory, "-m", "shell", "-a", command,
               "--forks", str(self.forks), "-o"]
        t0 = time.monotonic()
        r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=600)
        took = time.monotonic() - t0
        if r.returncode != 0:
            die(f"ansible {command!r} exited {r.returncode}:\n{(r.stdout + r.stderr)[-3000:]}")
        return took

    def stop_start(self, hosts, tag):
        # A control path of its own per run, closed afterwards: each run starts cold (as gameday
        # does), and stop and start share Ansible's ControlPersist connections (as gameday's
        # inject and revert share sessions).
        self.cp = os.path.join(self.work, f"cp-{tag}")
        os.makedirs(self.cp, exist_ok=True)
        pattern = "all" if len(hosts) > 1 else hosts[0]["name"]
        try:
            stop = self.run(pattern, "sv stop {{ dummy_service_dir }}")
            expect(hosts, "down", "ansible stop")
            start = self.run(pattern, "sv start {{ dummy_service_dir }}")
            expect(hosts, "run", "ansible start")
        finally:
            close_control_masters(self.cp)
        return stop, start


def close_control_masters(cp):
    if not cp or not os.path.isdir(cp):
        return
    for name in os.listdir(cp):
        sock = os.path.join(cp, name)
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench-host"],
                       capture_output=True, timeout=30)


def gameday(bench, bed, hosts, extra):
    selector = "all" if len(hosts) > 1 else hosts[0]["name"]
    r = subprocess.run([bench, "--inventory", os.path.join(bed, "inventory.yaml"), "--hosts",
                        selector] + extra, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        die(f"ssh_fanout_bench exited {r.returncode}:\n{r.stderr[-3000:]}")
    f = r.stdout.split()
    if len(f) != 8 or f[0] != "gameday" or int(f[1]) != len(hosts):
        die(f"unexpected output of ssh_fanout_bench: {r.stdout!r}")
    expect(hosts, "run", "gameday")
    return float(f[2]), float(f[3]), {"handshakes": int(f[4]), "peak": int(f[5]),
                                      "retries": int(f[6]), "connect": float(f[7])}


PSSH_CHILD = r"""
import sys, time
t0 = time.monotonic()
from pssh.clients import ParallelSSHClient
key, n = sys.argv[1], int(sys.argv[2])
addrs = sys.argv[3:3 + n]
dirs = sys.argv[3 + n:]
client = ParallelSSHClient(addrs, user="root", pkey=key, pool_size=len(addrs), num_retries=1)
def run(verb):
    out = client.run_command("sv " + verb + " %s", host_args=[(d,) for d in dirs])
    client.join(out)
    bad = [o.host for o in out if o.exit_code != 0 or o.exception is not None]
    if bad:
        sys.exit("parallel-ssh sv %s failed on %s" % (verb, bad[:5]))
run("stop")
t1 = time.monotonic()
print("stopped", t1 - t0, flush=True)
sys.stdin.readline()  # the parent checked the hosts
t2 = time.monotonic()
run("start")
print("started", time.monotonic() - t2, flush=True)
"""


def parallel_ssh(venv, bed, hosts):
    py = os.path.join(venv, "bin", "python")
    args = [py, "-c", PSSH_CHILD, os.path.join(bed, "id_ed25519"), str(len(hosts))]
    args += [h["address"] for h in hosts] + [h["dir"] for h in hosts]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        if len(line) != 2 or line[0] != "stopped":
            p.kill()
            die(f"parallel-ssh stop failed: {p.stderr.read()[-2000:]}")
        stop = float(line[1])
        expect(hosts, "down", "parallel-ssh stop")
        p.stdin.write("\n")
        p.stdin.flush()
        line = p.stdout.readline().split()
        if len(line) != 2 or line[0] != "started":
            p.kill()
            die(f"parallel-ssh start failed: {p.stderr.read()[-2000:]}")
        start = float(line[1])
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    expect(hosts, "run", "parallel-ssh start")
    return stop, start


def have_parallel_ssh(venv):
    py = os.path.join(venv, "bin", "python")
    return subprocess.run([py, "-c", "import pssh.clients"], capture_output=True).returncode == 0


def version(venv, dist):
    py = os.path.join(venv, "bin", "python")
    r = subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def uptime():
    with open("/proc/loadavg", encoding="utf-8") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bed", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.rounds <= 20:
        die("--rounds must be 1-20")

    hosts = load_bed(a.bed)
    n = len(hosts)
    inventory = os.path.join(a.work, "ansible-inventory.ini")
    write_ansible_inventory(a.bed, hosts, inventory)
    expect(hosts, "run", "the bed")
    peers = not a.no_peers
    pssh = peers and have_parallel_ssh(a.venv)
    ansible = Ansible(a.venv, a.work, inventory, n, pipelining=False)
    tuned = Ansible(a.venv, a.work, inventory, n, pipelining=True)

    rows = {}  # (tool, hosts) -> list of (stop, start)
    notes = {}

    def record(tool, count, stop, start, extra=None):
        rows.setdefault((tool, count), []).append((stop, start))
        if extra:
            notes.setdefault((tool, count), []).append(extra)
        print(f"  {tool:<34} {count:>3} hosts: stop {stop:6.2f} s  start {start:6.2f} s"
              f"  (load {uptime()})", file=sys.stderr, flush=True)
        time.sleep(SETTLE_S)

    load_before = uptime()
    t_begin = time.monotonic()
    for r in range(a.rounds):
        print(f"round {r + 1} of {a.rounds}", file=sys.stderr, flush=True)
        stop, start, extra = gameday(a.bench, a.bed, hosts[:1], [])
        record("gameday", 1, stop, start, extra)
        stop, start, extra = gameday(a.bench, a.bed, hosts, [])
        record("gameday", n, stop, start, extra)
        if peers:
            stop, start = ansible.stop_start(hosts, f"{r}-a{n}")
            record("ansible -m shell --forks %d" % n, n, stop, start)
            stop, start = ansible.stop_start(hosts[:1], f"{r}-a1")
            record("ansible -m shell --forks %d" % n, 1, stop, start)
            stop, start = tuned.stop_start(hosts, f"{r}-p{n}")
            record("ansible, pipelining on", n, stop, start)
        if pssh:
            stop, start = parallel_ssh(a.venv, a.bed, hosts)
            record("parallel-ssh (ParallelSSHClient)", n, stop, start)
    load_after = uptime()

    def med(key):
        runs = rows[key]
        return (statistics.median(s for s, _ in runs), statistics.median(s for _, s in runs),
                statistics.median(s + t for s, t in runs))

    print(f"\nSSH fan-out: stop and start a runit service, median of {a.rounds} rounds "
          f"({time.monotonic() - t_begin:.0f} s in all)\n")
    print("| tool | hosts | stop s | start s | total s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key in rows:
        stop, start, total = med(key)
        print(f"| {key[0]} | {key[1]} | {stop:.2f} | {start:.2f} | {total:.2f} |")
    print()
    g1, gn = med(("gameday", 1))[2], med(("gameday", n))[2]
    print(f"gameday, {n} hosts vs 1 host: {gn / g1:.2f}x (target: within 2x)")
    key = ("ansible -m shell --forks %d" % n, n)
    if key in rows:
        print(f"Ansible vs gameday, {n} hosts: {med(key)[2] / gn:.2f}x (target: gameday at "
              f"least 3x faster)")
        print(f"Ansible {version(a.venv, 'ansible')} (ansible-core "
              f"{version(a.venv, 'ansible-core')})" +
              (f", parallel-ssh {version(a.venv, 'parallel-ssh')}" if pssh else
               (", parallel-ssh not installed" if peers else "")))
    for count in (1, n):
        hs = notes.get(("gameday", count), [])
        if not hs:
            continue
        connect = statistics.median(h["connect"] for h in hs)
        print(f"gameday, {count} host{'s' if count > 1 else ''}: of the stop, {connect:.2f} s "
              f"(median) opening the sessions; {hs[0]['handshakes']} handshakes per run, at most "
              f"{max(h['peak'] for h in hs)} at once (bound 16), "
              f"{sum(h['retries'] for h in hs)} throttled retries in all")
    print(f"load average (1, 5, 15 min): {load_before} before, {load_after} after; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
