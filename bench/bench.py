#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measure ltigate against the physical limits of this machine in one run.

Usage: bench/bench.py BUILD_DIR [--quick] [--out docs/benchmarks.md]

Starts `ltisim platform` and ltigate on free ports of 127.0.0.1, runs
bench_rsa, `ltisim load` in split, full, baseline and get modes and with
deep-linking round trips, and bench_conns, and writes a Markdown report with
a gnuplot SVG. Every
number in one report comes from the same run, so the ratios hold even when
absolute speeds drift between runs on shared machines.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from statistics import median

CONCURRENCY = (1, 8, 64)
SPLIT_COUNT = {1: 4000, 8: 20000, 64: 20000}
FULL_SECONDS = 6
GET_COUNT = {1: 20000, 8: 60000, 64: 60000}
# Deep-linking round trips in split mode: the selection POSTs, each of which
# makes ltigate sign one RS256 response, run in a timed phase of their own.
DL_COUNT = 4000
DL_CONCURRENCY = 8
DL_MUST_REACH = 0.80
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDLE_CONNECTIONS = 10000
# A Canvas launch payload (claims of a course_navigation launch), parsed by
# bench_json the way ltigate parses every id_token payload.
PAYLOAD_SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                              "launch", "canvas_claims.json")
# Each rate is the best of this many runs, because other processes on a shared
# machine slow single runs down.
REPEATS = 2
# Alternating full-mode and do-nothing runs at the top concurrency.
PAIRS = 3
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def perf_shares(data, sort, limit, window=None):
    """Return up to `limit` (percent, name) rows of `perf report --sort SORT` on
    the recording `data`, optionally only over the time window "START,END"."""
    argv = ["perf", "report", "-i", data]
    if window is not None:
        argv += ["--time", window]
    argv += ["--no-children", "--sort", sort, "--stdio", "-g", "none"]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].endswith("%") and not line.startswith("#"):
            rows.append((float(parts[0][:-1]), " ".join(parts[1].split())))
    return rows[:limit]


def best_report(reports):
    """Return the report with the highest rate, with every run's launch count in
    "all_ok" (for the JWKS count) and every rate in "all_rates"."""
    best = max(reports, key=lambda rep: rep["summary"]["rate"])
    best["all_ok"] = sum(rep["summary"]["ok"] for rep in reports)
    best["all_rates"] = [rep["summary"]["rate"] for rep in reports]
    return best


def proc_cpu_split(pid):
    """Return (user, system) CPU seconds of `pid` from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def proc_cpu_s(pid):
    return sum(proc_cpu_split(pid))


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Bench:
    def __init__(self, build, quick):
        self.build = os.path.abspath(build)
        self.quick = quick
        self.dir = tempfile.mkdtemp(prefix="ltigate-bench-")
        self.tool_port = free_port()
        self.platform_port = free_port()
        self.tool = f"http://127.0.0.1:{self.tool_port}"
        self.platform = f"http://127.0.0.1:{self.platform_port}"
        self.keys_dir = os.path.join(self.dir, "platform")
        os.makedirs(self.keys_dir)
        self.procs = []
        self.ltigate = None
        self.results = {}

    def bin(self, name):
        path = os.path.join(self.build, name)
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} not found; build first (make build)")
        return path

    # ---- processes -------------------------------------------------------

    def start_platform(self):
        p = subprocess.Popen(
            [self.bin("ltisim"), "platform", "--listen", f"127.0.0.1:{self.platform_port}",
             "--state-dir", self.keys_dir, "--tool-base", self.tool, "--log-level", "warn"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "platform.log"), "w"),
            text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if "listening" not in line:
            sys.exit("bench: ltisim platform did not start; see " + self.dir)

    def write_config(self):
        key = os.path.join(self.dir, "tool-key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", key], check=True,
                       stderr=subprocess.DEVNULL)
        os.chmod(key, 0o600)
        conf = os.path.join(self.dir, "ltigate.yaml")
        with open(conf, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1:{self.tool_port}"]
  baseUrl: {self.tool}
  threads: 0
  maxConnections: {IDLE_CONNECTIONS + 1000}
  logFile: {self.dir}/ltigate.log
  logLevel: warn
hosted:
  authMethod: lti1.3
  lti13ServicePrivateKey: tool-key.pem
  ltiUserIdAttribute: sub
  stateLifetime: 1800
  mediaCatalogFile: {os.path.join(SOURCE_DIR, "conf", "catalog.json")}
store:
  backend: memory
  maxEntries: 2000000
platforms:
  - name: Bench platform
    issuer: https://canvas.instructure.com
    lti13ClientID: "170000000000123"
    lti13PlatformOidcAuthUrl: {self.platform}/api/lti/authorize_redirect
    lti13AuthTokenUrl: {self.platform}/login/oauth2/token
    lti13KeysUrl: {self.platform}/api/lti/security/jwks
    selfHosted: true
    allowHttpLoopback: true
    deploymentIds: ["42:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"]
""")
        return conf

    def start_ltigate(self, conf):
        # ltigate needs a descriptor per idle connection.
        def raise_limit():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = IDLE_CONNECTIONS + 4096
            if soft < want:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
                except (ValueError, OSError):
                    pass
        p = subprocess.Popen([self.bin("ltigate"), "--config", conf], cwd=self.dir,
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, "ltigate.stderr"), "a"),
                             preexec_fn=raise_limit)
        self.procs.append(p)
        for _ in range(200):
            try:
                status, body = http_get(self.tool + "/readyz")
                if status == 200 and json.loads(body).get("platform_keys"):
                    self.ltigate = p
                    return p
            except Exception:
                pass
            if p.poll() is not None:
                sys.exit(f"bench: ltigate exited with {p.returncode}; see {self.dir}")
            time.sleep(0.05)
        sys.exit("bench: ltigate did not become ready; see " + self.dir)

    def stop_ltigate(self):
        if self.ltigate is not None:
            self.ltigate.send_signal(signal.SIGTERM)
            try:
                self.ltigate.wait(10)
            except subprocess.TimeoutExpired:
                self.ltigate.kill()
                self.ltigate.wait()
            self.procs.remove(self.ltigate)
            self.ltigate = None

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- measurements ----------------------------------------------------

    def load(self, *args):
        """Run `ltisim load --json` and return the report."""
        cmd = [self.bin("ltisim"), "load", "--json", "--quiet", *args]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600)
        if r.returncode == 2 or not r.stdout.strip():
            sys.exit(f"bench: {' '.join(cmd)} failed: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def tool_load(self, *args):
        return self.load("--tool", self.tool, "--platform", self.platform, "--state-dir",
                         self.keys_dir, *args)

    def best_of(self, run):
        """Call run() REPEATS times and return the best report (best_report)."""
        return best_report([run() for _ in range(REPEATS)])

    def profile(self, pid):
        """Sample ltigate with perf during a full-mode run and return the CPU share
        of each shared object and of the top functions, or None without perf."""
        if shutil.which("perf") is None:
            log("perf not found; no profile (apt-get install linux-perf)")
            return None
        log("profiling ltigate with perf (full mode, c=8, no landing page)")
        data = os.path.join(self.dir, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-F", "999", "-p", str(pid), "-o", data],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        rep = self.tool_load("--count", str(int(5000 * (0.25 if self.quick else 1.0))),
                             "--concurrency", "8", "--no-landing")
        rec.send_signal(signal.SIGINT)
        rec.wait(30)

        def shares(sort, limit):
            return perf_shares(data, sort, limit)
        dsos = shares("dso", 8)
        if not dsos:
            log("perf recorded nothing (perf_event_paranoid?); no profile")
            return None
        return {"dso": dsos, "symbols": shares("dso,sym", 12), "launches": rep["summary"]["ok"]}

    def dl_run(self, pid, count):
        """Run split mode with deep-linking round trips only and return the report
        with the deep-link response phase in "dl_phase"."""
        rep = self.tool_load("--mode", "split", "--count", str(count), "--concurrency",
                             str(DL_CONCURRENCY), "--deep-linking", "100", "--server-pid",
                             str(pid))
        phases = [p for p in rep["phases"] if p["name"] == "deep-link responses"]
        if not phases or "server_cpu_s" not in phases[0]:
            sys.exit("bench: the deep-linking run reported no deep-link response phase "
                     "with server CPU time")
        rep["dl_phase"] = phases[0]
        return rep

    def profile_dl(self, pid, count):
        """Sample ltigate with perf during a deep-linking split run and return the
        shares over the deep-link response phase only, or None without perf."""
        if shutil.which("perf") is None:
            log("perf not found; no deep-linking profile")
            return None
        log("profiling ltigate with perf over the deep-link response phase")
        data = os.path.join(self.dir, "perf-dl.data")
        # The monotonic clock lets the phase's start and length from the report
        # select its samples.
        rec = subprocess.Popen(["perf", "record", "-k", "CLOCK_MONOTONIC", "-F", "999", "-p",
                                str(pid), "-o", data],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        rep = self.dl_run(pid, count)
        rec.send_signal(signal.SIGINT)
        rec.wait(30)
        phase = rep["dl_phase"]
        window = (f"{phase['start_monotonic_s']:.6f},"
                  f"{phase['start_monotonic_s'] + phase['seconds']:.6f}")

        def shares(sort, limit):
            return perf_shares(data, sort, limit, window)
        dsos = shares("dso", 8)
        if not dsos:
            log("perf recorded nothing over the deep-link phase; no profile")
            return None
        # Debian's libcrypto has no symbols, so its samples show as bare
        # addresses; the table lists what runs besides it.
        symbols = [row for row in shares("dso,sym", 200)
                   if not row[1].startswith("libcrypto.so.3 [.] 0x")][:12]
        return {"dso": dsos, "symbols": symbols, "launches": rep["summary"]["ok"]}

    def jwks_hits(self):
        status, body = http_get(self.platform + "/sim/stats")
        return json.loads(body)["jwks_hits"]

    def run(self):
        r = self.results
        r["loadavg_start"] = os.getloadavg()[0]
        log("measuring RSA-2048 and SHA-256 in-process")
        out = subprocess.run([self.bin("bench_rsa"), "1" if self.quick else "3"],
                             stdout=subprocess.PIPE, text=True, check=True)
        r["crypto"] = json.loads(out.stdout)
        log("measuring the strict JSON parse of a launch payload in-process")
        out = subprocess.run([self.bin("bench_json"), PAYLOAD_SAMPLE,
                              "0.5" if self.quick else "1.5"],
                             stdout=subprocess.PIPE, text=True, check=True)
        r["json"] = json.loads(out.stdout)

        self.start_platform()
        conf = self.write_config()
        pid = self.start_ltigate(conf).pid
        log("warming up (first launch fetches the platform key set)")
        warm = self.tool_load("--count", "500", "--concurrency", "8")
        if warm["summary"]["errors"]:
            sys.exit(f"bench: warm-up launches failed: {warm['errors_by_reason']}")
        jwks0 = self.jwks_hits()
        launches = 0
        scale = 0.25 if self.quick else 1.0

        # Server CPU per login+launch: full mode without the landing page.
        log("server CPU per login+launch (full mode, c=8, no landing page)")
        user0, sys0 = proc_cpu_split(pid)
        rep = self.tool_load("--count", str(int(10000 * scale)), "--concurrency", "8",
                             "--no-landing")
        user1, sys1 = proc_cpu_split(pid)
        cpu = (user1 - user0) + (sys1 - sys0)
        ok = rep["summary"]["ok"]
        launches += ok
        r["server_cpu"] = {"cpu_s": cpu, "launches": ok, "errors": rep["summary"]["errors"],
                           "us_per_launch": cpu * 1e6 / ok if ok else 0,
                           "system_share": (sys1 - sys0) / cpu if cpu > 0 else 0}
        r["profile"] = self.profile(pid)
        if r["profile"]:
            launches += r["profile"].pop("launches")

        r["full"], r["split"], r["get"] = {}, {}, {}
        for c in CONCURRENCY[:-1]:
            log(f"full mode, c={c}")
            rep = self.best_of(lambda: self.tool_load(
                "--duration", str(FULL_SECONDS * scale), "--concurrency", str(c)))
            launches += rep["all_ok"]
            r["full"][c] = rep
        # Both rates are bounded by the generator's RSA signing, so a change
        # in the machine's speed between two runs moves their ratio more than
        # ltigate does. The runs alternate, and each pair gives one ratio.
        top = CONCURRENCY[-1]
        log(f"full mode and the do-nothing handler (/healthz) in turn, c={top}")
        fulls, bases = [], []
        for _ in range(PAIRS):
            fulls.append(self.tool_load("--duration", str(FULL_SECONDS * scale),
                                        "--concurrency", str(top)))
            bases.append(self.tool_load("--baseline-url", self.tool + "/healthz", "--duration",
                                        str(FULL_SECONDS * scale), "--concurrency", str(top)))
        r["full"][top] = best_report(fulls)
        r["baseline"] = best_report(bases)
        launches += r["full"][top]["all_ok"]
        r["pair_ratios"] = [f["summary"]["rate"] / b["summary"]["rate"]
                            for f, b in zip(fulls, bases) if b["summary"]["rate"] > 0]
        r["rss_full_kb"] = proc_status_kb(pid, "VmHWM")
        for c in CONCURRENCY:
            n = int(SPLIT_COUNT[c] * scale)
            log(f"split mode, c={c}, {n} launches")

            def split_run():
                cpu0 = proc_cpu_s(pid)
                rep = self.tool_load("--mode", "split", "--count", str(n), "--concurrency",
                                     str(c))
                rep["server_cpu_s"] = proc_cpu_s(pid) - cpu0
                return rep
            rep = self.best_of(split_run)
            launches += rep["all_ok"]
            r["split"][c] = rep
        n = int(DL_COUNT * scale)
        # Other processes change the speed of this machine within minutes, so
        # the sign rate the deep-link responses are held to is measured again
        # right before them.
        log("measuring RSA-2048 signing again, next to the deep-linking runs")
        out = subprocess.run([self.bin("bench_rsa"), "1" if self.quick else "2"],
                             stdout=subprocess.PIPE, text=True, check=True)
        r["dl_crypto"] = json.loads(out.stdout)
        log(f"deep-linking round trips, split mode, c={DL_CONCURRENCY}, {n} responses")
        reps = [self.dl_run(pid, n) for _ in range(REPEATS)]
        for rep in reps:
            launches += rep["summary"]["ok"]
        # The best run is the one where ltigate used the least CPU per response.
        r["dl"] = max(reps, key=lambda rep: rep["dl_phase"]["ok"] /
                      max(rep["dl_phase"]["server_cpu_s"], 1e-9))
        r["dl"]["all_per_core"] = [rep["dl_phase"]["ok"] / max(rep["dl_phase"]["server_cpu_s"],
                                                                 1e-9) for rep in reps]
        per_core = r["dl"]["all_per_core"]
        if max(per_core) < DL_MUST_REACH * r["dl_crypto"]["rsa2048_sign_per_s"]:
            r["dl_profile"] = self.profile_dl(pid, n)
            if r["dl_profile"]:
                launches += r["dl_profile"].pop("launches")
        for c in CONCURRENCY:
            log(f"GET /healthz, c={c}")
            r["get"][c] = self.best_of(lambda: self.load(
                "--mode", "get", "--url", self.tool + "/healthz", "--count",
                str(int(GET_COUNT[c] * scale)), "--concurrency", str(c)))
        r["rss_peak_kb"] = proc_status_kb(pid, "VmHWM")
        r["jwks"] = {"fetches": self.jwks_hits() - jwks0, "launches": launches}

        log(f"RSS with {IDLE_CONNECTIONS} idle keep-alive connections (fresh ltigate)")
        self.stop_ltigate()
        pid = self.start_ltigate(conf).pid
        rss0 = proc_status_kb(pid, "VmRSS")
        conns = subprocess.Popen([self.bin("bench_conns"), str(self.tool_port),
                                  str(IDLE_CONNECTIONS), "/healthz"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        opened = conns.stdout.readline().split()
        time.sleep(1)
        rss = proc_status_kb(pid, "VmRSS")
        conns.stdin.close()
        still = conns.stdout.readline().split()
        conns.wait(30)
        r["idle"] = {"rss_before_kb": rss0, "rss_kb": rss,
                     "opened": int(opened[1]) if len(opened) > 1 else 0,
                     "failed": int(opened[3]) if len(opened) > 3 else 0,
                     "still_open": int(still[1]) if len(still) > 1 else 0}
        self.stop_ltigate()
        r["loadavg_end"] = os.getloadavg()[0]

    # ---- report ----------------------------------------------------------

    def plot(self, svg):
        data = os.path.join(self.dir, "plot.dat")
        with open(data, "w") as f:
            f.write("# c split_rate split_p99_ms full_rate full_p99_ms\n")
            for c in CONCURRENCY:
                s, fu = self.results["split"][c], self.results["full"][c]
                f.write(f"{c} {s['summary']['rate']:.1f} "
                        f"{s['steps']['launch'].get('p99_ms', 0):.3f} "
                        f"{fu['summary']['rate']:.1f} "
                        f"{fu['steps']['flow'].get('p99_ms', 0):.3f}\n")
        script = f"""set terminal svg size 720,420 dynamic font "sans,11"
set output "{svg}"
set title "ltigate on {os.cpu_count()} CPUs: throughput and p99 latency against concurrency"
set logscale x 2
set xlabel "concurrency (simulated browsers)"
set ylabel "launches per second"
set y2label "p99 latency (ms)"
set ytics nomirror
set y2tics
set key below
set grid
plot "{data}" using 1:2 with linespoints lw 2 title "split: launch POSTs/s", \\
     "{data}" using 1:4 with linespoints lw 2 title "full: launches/s", \\
     "{data}" using 1:3 axes x1y2 with linespoints dt 2 title "split: launch POST p99 (ms)", \\
     "{data}" using 1:5 axes x1y2 with linespoints dt 2 title "full: flow p99 (ms)"
"""
        if shutil.which("gnuplot") is None:
            log("gnuplot not found; no plot (apt-get install gnuplot-nox)")
            return False
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        return True

    def machine_description(self):
        """Return the sentence naming the CPUs, memory, kernel, OpenSSL and load."""
        r = self.results
        cpu_model = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
        mem_kb = 0
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
        ossl = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE,
                              text=True).stdout.strip()
        return (f"Machine: {os.cpu_count()} CPUs ({cpu_model}), {mem_kb // 1024} MiB RAM, "
                f"Linux {platform.release()}, {ossl}. The generator, the simulated platform "
                "and ltigate (one event loop per CPU) share these CPUs, so every rate below "
                "is bounded by the sum of their CPU time per launch. The 1-minute load "
                f"average was {r['loadavg_start']:.1f} at the start and "
                f"{r['loadavg_end']:.1f} at the end; above the CPU count, other processes "
                f"took CPU time from the run. Each rate is the best of {REPEATS} runs.")

    def goal_lines(self, cpu, split64, full_ratio, idle, j, dl_ratio):
        """Return the Markdown table of the performance targets and the gaps."""
        r = self.results
        floor_us = 1e6 / r["crypto"]["rsa2048_verify_per_s"] + r["json"]["parse_arena_us"]
        lines = []
        w = lines.append
        w("Goals (from the project's performance targets):")
        w("")
        w("| measure | must reach | aim | measured | met | gap |")
        w("|---|---|---|---:|---|---|")
        # Each row: name, goal text, aim text, measured text, met (None = not
        # measured), gap text.
        rows = [
            ("server CPU per login+launch", "≤ 50 µs", "≤ 30 µs",
             f"{cpu['us_per_launch']:.0f} µs", cpu["us_per_launch"] <= 50,
             f"{cpu['us_per_launch'] / 50:.1f} × the limit; one RSA verify and one jansson "
             f"parse of the payload alone take {floor_us:.0f} µs"),
            ("split-mode launch POSTs/s, c=64", "≥ 8,000", "≥ 12,000", f"{split64:,.0f}",
             split64 >= 8000, f"{100 * split64 / 8000:.0f} % of the target"),
            ("full-mode launches/s vs do-nothing tool", "≥ 85 %", "≥ 95 %",
             f"{100 * full_ratio:.0f} %", full_ratio >= 0.85,
             f"{100 * full_ratio - 85:+.0f} points"),
            ("deep-link responses/s vs RSA-2048 sign/s, per core", "≥ 80 %", "≥ 95 %",
             f"{100 * dl_ratio:.0f} %", dl_ratio >= DL_MUST_REACH,
             f"{100 * (dl_ratio - DL_MUST_REACH):+.0f} points"),
            ("peak RSS under load", "≤ 30 MB", "≤ 24 MB", f"{r['rss_full_kb'] / 1024:.1f} MiB",
             r["rss_full_kb"] <= 30 * 1024, ""),
            ("RSS with 10k idle connections", "≤ 40 MB", "≤ 32 MB",
             f"{idle['rss_kb'] / 1024:.1f} MiB",
             idle["rss_kb"] <= 40 * 1024 and idle["opened"] >= IDLE_CONNECTIONS, ""),
            ("JWKS fetches per launch in steady state", "0", "0", str(j["fetches"]),
             j["fetches"] == 0, ""),
        ]
        for name, goal, aim, value, met, gap in rows:
            w(f"| {name} | {goal} | {aim} | {value} | "
              f"{'pending' if met is None else ('yes' if met else 'no')} | "
              f"{'' if met else gap} |")
        return lines

    def markdown(self, command, plot_name):
        """Return the results section: measures, goals, plot and profile."""
        r = self.results
        cr = r["crypto"]
        verify_us = 1e6 / cr["rsa2048_verify_per_s"]
        sign_per_s = cr["rsa2048_sign_per_s"]
        cpu = r["server_cpu"]
        lines = []
        w = lines.append
        w(f"Command: `{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
        w("")
        w(self.machine_description())
        w("")
        w("| # | measure | value | ratio |")
        w("|---|---|---:|---|")
        w(f"| 1 | RSA-2048 verify per core (OpenSSL, in-process) | "
          f"{cr['rsa2048_verify_per_s']:,.0f}/s = {verify_us:.1f} µs | |")
        w(f"| 1 | RSA-2048 sign per core | {sign_per_s:,.0f}/s = {1e6 / sign_per_s:.0f} µs | |")
        w(f"| 1 | SHA-256 of {cr['sha256_input_bytes']} bytes per core | "
          f"{cr['sha256_per_s']:,.0f}/s = {1e6 / cr['sha256_per_s']:.2f} µs | |")
        js = r["json"]
        w(f"| 1 | strict JSON parse (jansson) of a {js['payload_bytes']:,}-byte launch payload "
          f"per core, into an arena as ltigate does | {js['parse_arena_us']:.1f} µs | "
          f"{js['parse_malloc_us']:.1f} µs on plain malloc; "
          f"{js['parse_arena_us'] / verify_us:.1f} × one RSA verify |")
        w(f"| 2 | ltigate CPU per login+launch (full mode, c=8, {cpu['launches']:,} launches, "
          f"/proc/PID/stat) | {cpu['us_per_launch']:.0f} µs | "
          f"{cpu['us_per_launch'] / verify_us:.1f} × one RSA verify; "
          f"{100 * cpu['system_share']:.0f} % of it in the kernel; one verify plus one "
          f"payload parse is {verify_us + js['parse_arena_us']:.0f} µs of it |")
        for c in CONCURRENCY:
            s = r["split"][c]
            lat = s["steps"].get("launch", {})
            w(f"| 3 | split: launch POSTs/s, c={c} ({s['summary']['ok']:,} launches, "
              f"{s['summary']['errors']} errors) | {s['summary']['rate']:,.0f}/s | "
              f"p50 {lat.get('p50_ms', 0):.2f} / p90 {lat.get('p90_ms', 0):.2f} / "
              f"p99 {lat.get('p99_ms', 0):.2f} / max {lat.get('max_ms', 0):.2f} ms |")
        for c in CONCURRENCY:
            fu = r["full"][c]
            lat = fu["steps"].get("flow", {})
            w(f"| 3 | full: launches/s (login, sign, launch, landing page), c={c} "
              f"({fu['summary']['ok']:,} launches, {fu['summary']['errors']} errors) | "
              f"{fu['summary']['rate']:,.0f}/s | flow p50 {lat.get('p50_ms', 0):.2f} / "
              f"p90 {lat.get('p90_ms', 0):.2f} / p99 {lat.get('p99_ms', 0):.2f} / "
              f"max {lat.get('max_ms', 0):.2f} ms |")
        for c in CONCURRENCY:
            g = r["get"][c]
            lat = g["steps"].get("get", {})
            split_rate = r["split"][c]["summary"]["rate"]
            w(f"| 4 | GET /healthz (trivial handler, same process), c={c} | "
              f"{g['summary']['rate']:,.0f}/s | p99 {lat.get('p99_ms', 0):.2f} ms; split launch "
              f"POSTs at {100 * split_rate / g['summary']['rate']:.0f} % of it |")
        b = r["baseline"]["summary"]["rate"]
        ratios = ", ".join(f"{100 * x:.0f} %" for x in r["pair_ratios"])
        w(f"| 4 | full mode against the do-nothing handler, c=64 (same generator, same "
          f"signing, every request to /healthz; best of {PAIRS} runs alternating with "
          f"ltigate's) | {b:,.0f}/s | ltigate full mode at "
          f"{100 * median(r['pair_ratios']):.0f} % of it (median of the {PAIRS} adjacent "
          f"pairs: {ratios}) |")
        lines += dl_rows(r["dl"], r["dl_crypto"]["rsa2048_sign_per_s"], sign_per_s)
        w(f"| 6 | peak RSS under load (after the full-mode runs) | "
          f"{r['rss_full_kb'] / 1024:.1f} MiB | |")
        w(f"| 6 | peak RSS after all runs (the split runs hold up to "
          f"{max(SPLIT_COUNT.values()):,} login states at once) | "
          f"{r['rss_peak_kb'] / 1024:.1f} MiB | |")
        idle = r["idle"]
        w(f"| 6 | RSS with {idle['opened']:,} idle keep-alive connections ({idle['failed']} "
          f"failed to open, {idle['still_open']:,} still open at the end) | "
          f"{idle['rss_kb'] / 1024:.1f} MiB | {idle['rss_before_kb'] / 1024:.1f} MiB before, "
          f"{(idle['rss_kb'] - idle['rss_before_kb']) * 1024 / max(idle['opened'], 1):,.0f} "
          f"bytes per connection |")
        j = r["jwks"]
        w(f"| 7 | JWKS fetches per 100k launches in steady state | "
          f"{j['fetches'] * 100000 / max(j['launches'], 1):.1f} | {j['fetches']} fetches in "
          f"{j['launches']:,} launches after warm-up |")
        w("")
        dl_ratio = dl_per_core(r["dl"]) / r["dl_crypto"]["rsa2048_sign_per_s"]
        lines += self.goal_lines(cpu, r["split"][64]["summary"]["rate"],
                                 median(r["pair_ratios"]), idle, j, dl_ratio)
        w("")
        gen = r["split"][64]["summary"]["generator_cpu_us_per_unit"]
        srv = r["split"][64]["server_cpu_s"] * 1e6 / max(r["split"][64]["summary"]["ok"], 1)
        conns = r["split"][64]["summary"].get("connections_opened", 0)
        w(f"Generator CPU per split-mode launch POST at c=64: {gen:.0f} µs (libcurl multi, "
          f"{conns} TCP connections opened for {2 * r['split'][64]['summary']['ok']:,} "
          "requests). "
          f"ltigate CPU per login+launch over that split run, whose signing phase leaves "
          f"ltigate idle: {srv:.0f} µs = {srv / verify_us:.1f} × one RSA verify.")
        if plot_name:
            w("")
            w(f"![throughput and p99 latency against concurrency]({plot_name})")
        if r.get("profile"):
            lines += profile_lines(r["profile"])
        if r.get("dl_profile"):
            lines += dl_profile_lines(r["dl_profile"], dl_ratio)
        return "\n".join(lines) + "\n"


def dl_per_core(rep):
    """Return deep-link responses per second of ltigate CPU time in the deep-link
    response phase: the rate divided by ltigate's CPU share of the wall time."""
    phase = rep["dl_phase"]
    return phase["ok"] / max(phase["server_cpu_s"], 1e-9)


def dl_rows(rep, sign_per_s, first_sign_per_s):
    """Return the result rows of the deep-linking round trips. `sign_per_s` is
    the RSA-2048 sign rate measured right before them, `first_sign_per_s` the
    one of row 1."""
    phase = rep["dl_phase"]
    dl = rep["deep_linking"]
    lat = rep["steps"].get("dl_response", {})
    share = phase["server_cpu_s"] / max(phase["seconds"], 1e-9)
    per_core = dl_per_core(rep)
    server_us = 1e6 / per_core
    runs = ", ".join(f"{v:,.0f}" for v in rep["all_per_core"])
    return [
        f"| 5 | deep-link responses/s per core of ltigate (split mode, the timed selection "
        f"POSTs of {phase['done']:,} deep-linking round trips at c={DL_CONCURRENCY}, "
        f"{dl['errors']} errors, {dl['verified']} responses verified against ltigate's key "
        f"set) | {per_core:,.0f}/s per core ({phase['per_second']:,.0f}/s with ltigate at "
        f"{share:.2f} CPUs) | {100 * per_core / sign_per_s:.0f} % of the "
        f"{sign_per_s:,.0f} RSA-2048 signs/s measured right before these runs "
        f"({100 * per_core / first_sign_per_s:.0f} % of row 1's); per-core rate of each "
        f"run: {runs} |",
        f"| 5 | ltigate CPU per deep-link response (/proc/PID/stat over that phase) | "
        f"{server_us:.0f} µs | {server_us * sign_per_s / 1e6:.2f} × one RSA-2048 sign "
        f"({1e6 / sign_per_s:.0f} µs); "
        f"selection POST p50 {lat.get('p50_ms', 0):.2f} / p90 {lat.get('p90_ms', 0):.2f} / "
        f"p99 {lat.get('p99_ms', 0):.2f} / max {lat.get('max_ms', 0):.2f} ms; generator CPU "
        f"{dl.get('generator_cpu_us_per_response', 0):.0f} µs per response |",
    ]


def dl_profile_lines(prof, ratio):
    """Return the Markdown description of a perf profile of the deep-link phase."""
    lines = []
    w = lines.append
    by_name = {name: share for share, name in prof["dso"]}
    crypto = by_name.get("libcrypto.so.3", 0)
    w("")
    w(f"Deep-link responses reached {100 * ratio:.0f} % of the RSA-2048 sign rate, below "
      f"the {100 * DL_MUST_REACH:.0f} % goal, so the script profiled ltigate over the "
      "deep-link response phase of another run (perf record -F 999, samples inside "
      "the phase only). OpenSSL (the RS256 signature, the HMACs of the CSRF token and "
      f"the selection cookie) is {crypto:.0f} % of ltigate's samples. The function "
      "table lists the largest shares outside libcrypto, whose symbols are stripped.")
    return lines + profile_tables(prof)


def profile_tables(prof):
    """Return the Markdown tables of a perf profile: shared objects, then functions."""
    lines = ["", "| shared object | share |", "|---|---:|"]
    lines += [f"| {name} | {share:.1f} % |" for share, name in prof["dso"]]
    lines += ["", "| function | share |", "|---|---:|"]
    lines += [f"| `{name}` | {share:.1f} % |" for share, name in prof["symbols"]]
    return lines


def profile_lines(prof):
    """Return the Markdown description of a perf profile of ltigate."""
    lines = []
    w = lines.append
    w("")
    w("Profile of ltigate over a separate full-mode run (perf record -F 999, share of "
      "samples):")
    w("")
    by_name = {name: share for share, name in prof["dso"]}
    crypto = by_name.get("libcrypto.so.3", 0)
    w(f"OpenSSL (RSA verification, hashes, random values) is {crypto:.0f} % of ltigate's "
      f"samples, so about {100 - crypto:.0f} % of its CPU per launch goes elsewhere. The "
      "rest is the kernel (sockets, epoll), libc (malloc, string work), jansson (JSON "
      "parsing and building) and ltigate's own code, listed below.")
    return lines + profile_tables(prof)


DOC_HEAD = """# Benchmarks

`make bench` (bench/bench.py) measures ltigate on the machine it runs on and
rewrites this page and its plot. It runs outside `make test` and takes a
few minutes on 2 CPUs.

What it runs, all on 127.0.0.1 and in one run, so the ratios compare numbers
taken under the same conditions:

- `bench_rsa`: RSA-2048 RS256 signatures and verifications per second and
  SHA-256 of a token-sized input on one thread with OpenSSL, the physical
  limits of a launch;
- `bench_json`: ltigate's strict jansson parse of a Canvas launch payload
  (`tests/data/launch/canvas_claims.json`), into an arena as a launch does
  and on plain malloc: the other fixed cost every launch pays;
- `ltisim platform` (keys in a state directory) and ltigate with one event
  loop per CPU, log level `warn`;
- `ltisim load` with in-process signing (`--platform URL --state-dir DIR`):
  a full-mode run without landing pages for ltigate's CPU per login+launch
  (from `/proc/PID/stat`), full mode and split mode at concurrency 1, 8 and
  64, full mode against `/healthz` (a do-nothing tool driven by the same
  generator with the same signing; at concurrency 64 its runs alternate
  with ltigate's and each adjacent pair gives one ratio), and GETs of
  `/healthz` (the HTTP ceiling);
- `ltisim load --mode split --deep-linking 100 --server-pid PID`: every flow
  is a deep-linking round trip. The picker's selection POSTs, each of which
  makes ltigate sign one `LtiDeepLinkingResponse` with RS256, run in a timed
  phase of their own. The generator reads ltigate's CPU time over that phase
  from `/proc/PID/stat`;
- `bench_conns`: 10,000 keep-alive connections, each with one answered GET,
  held idle while the script reads ltigate's RSS;
- the platform's `/sim/stats` JWKS counter before and after the runs.

The generator, the platform and ltigate share the machine's CPUs, so the
launch rates are bounded by their combined CPU time per launch. The
generator reports its own CPU time per launch in every `ltisim load` report.

## Results
"""


def cluster_section(build, quick):
    """Runs scripts/cluster-bench.py (memory store, Redis store, two Redis-backed
    instances behind HAProxy) and returns its table as a Markdown section, or a
    line saying why it did not run."""
    head = "\n## Shared store: Redis and two instances\n\n"
    if shutil.which("redis-server") is None or shutil.which("haproxy") is None:
        return head + "Not measured: redis-server or haproxy is not installed.\n"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                          "cluster-bench.py")
    argv = [sys.executable, script, build, "--count", "2000" if quick else "5000",
            "--repeat", "1" if quick else "3"]
    log("running " + " ".join(argv[1:]))
    try:
        run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=300)
    except subprocess.TimeoutExpired:
        return head + "Not measured: scripts/cluster-bench.py ran longer than 300 s.\n"
    if run.returncode != 0:
        return head + f"Not measured: scripts/cluster-bench.py exited with {run.returncode}.\n"
    return head + run.stdout


def main():
    ap = argparse.ArgumentParser(description="Benchmark ltigate on this machine.")
    ap.add_argument("build", help="CMake build directory with ltigate, ltisim, bench_rsa")
    ap.add_argument("--quick", action="store_true", help="shorter runs (for a smoke test)")
    ap.add_argument("--out", default="docs/benchmarks.md", help="Markdown file to write")
    ap.add_argument("--command", help="command line to record in the report (default: this "
                    "script's own)")
    args = ap.parse_args()
    b = Bench(args.build, args.quick)
    try:
        b.run()
        out_dir = os.path.dirname(os.path.abspath(args.out))
        svg_name = "benchmarks.svg"
        have_plot = b.plot(os.path.join(out_dir, svg_name))
        command = args.command or " ".join(["bench/bench.py"] + sys.argv[1:])
        md = b.markdown(command, svg_name if have_plot else None)
        md += cluster_section(args.build, args.quick)
        with open(args.out, "w") as f:
            f.write(DOC_HEAD + "\n" + md)
        with open(os.path.join(b.build, "bench-results.json"), "w") as f:
            json.dump(b.results, f, indent=1, default=str)
        print(md)
        log(f"wrote {args.out}")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
