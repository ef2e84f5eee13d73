#!/usr/bin/env python3
"""Measure ltigate's launch rate and server CPU per launch with the memory
store, the Redis store, and two Redis-backed instances behind HAProxy, in
one run on this machine, and print a Markdown table with the ratios.

Usage: scripts/cluster-bench.py [BUILD_DIR] [--count N] [--concurrency C]

Every process listens on 127.0.0.1 only. `ltisim load --mode split` first
runs N logins (timed), then signs every id_token (not timed), then posts N
launches (timed), so the launch rate is the tool's and not the RSA signing
rate of the generator. Server CPU is the user plus system time of the
ltigate processes (and of redis-server and haproxy, listed apart) during
the split run, divided by the launches that succeeded. The generator runs
on the same CPUs, so absolute rates depend on the machine. The ratios
compare configurations measured back to back in the same run.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """User plus system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except Exception:
        return None


def wait_for(url, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if http_status(url) == 200:
            return True
        time.sleep(0.1)
    return False


def redis_command(port, *args):
    """Send one RESP command and return the raw reply bytes."""
    payload = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a.encode()
        payload += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload)
        time.sleep(0.05)
        return s.recv(65536)


def redis_calls(port):
    """Calls of SET and GETDEL so far, from INFO commandstats."""
    text = redis_command(port, "INFO", "commandstats").decode(errors="replace")
    calls = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(rest.split("calls=", 1)[1].split(",", 1)[0])
    return calls.get("set", 0) + calls.get("getdel", 0)


class Bench:
    def __init__(self, build, count, concurrency):
        self.build = os.path.abspath(build)
        self.count = count
        self.concurrency = concurrency
        self.dir = tempfile.mkdtemp(prefix="ltigate-cluster-bench-")
        self.procs = []
        self.rows = []

    def bin(self, name):
        path = os.path.join(self.build, name)
        if not os.access(path, os.X_OK):
            sys.exit(f"cluster-bench: {path} not found; build first")
        return path

    def spawn(self, name, argv):
        log = open(os.path.join(self.dir, name + ".out"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop(self, p):
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        self.procs.remove(p)

    def start_shared(self):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", os.path.join(self.dir, "tool-key.pem")],
                       check=True, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "session-secret"), "wb") as f:
            f.write(os.urandom(32))
        for name in ("tool-key.pem", "session-secret"):
            os.chmod(os.path.join(self.dir, name), 0o600)

        self.redis_port = free_port()
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        os.makedirs(os.path.join(self.dir, "redis"))
        self.redis = self.spawn("redis", [redis, "--port", str(self.redis_port), "--bind",
                                          "127.0.0.1", "--save", "", "--appendonly", "no",
                                          "--dir", os.path.join(self.dir, "redis")])

        self.platform_port = free_port()
        self.platform = f"http://127.0.0.1:{self.platform_port}"
        self.state_dir = os.path.join(self.dir, "platform")
        os.makedirs(self.state_dir)
        self.spawn("platform", [self.bin("ltisim"), "platform", "--listen",
                                f"127.0.0.1:{self.platform_port}", "--state-dir",
                                self.state_dir, "--log-level", "warn"])
        if not wait_for(self.platform + "/api/lti/security/jwks"):
            sys.exit("cluster-bench: ltisim platform did not start; see " + self.dir)

        for _ in range(50):
            try:
                if b"PONG" in redis_command(self.redis_port, "PING"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit("cluster-bench: redis-server did not start; see " + self.dir)

    def write_config(self, name, prefix, port, backend, base_url):
        p = self.platform
        text = f"""server:
  listen: ["127.0.0.1:{port}"]
  baseUrl: {base_url}
  threads: 2
  logFile: {self.dir}/{name}.log
  logLevel: warn
hosted:
  authMethod: lti1.3
  lti13ServicePrivateKey: tool-key.pem
  sessionSecretFile: session-secret
  stateLifetime: 3600
store:
  backend: {backend}
  maxEntries: {max(100000, 2 * self.count)}
  redisUrl: redis://127.0.0.1:{self.redis_port}/0
  keyPrefix: "{prefix}"
platforms:
  - name: Simulated Canvas
    issuer: https://canvas.instructure.com
    lti13ClientID: "170000000000123"
    lti13PlatformOidcAuthUrl: {p}/api/lti/authorize_redirect
    lti13AuthTokenUrl: {p}/login/oauth2/token
    lti13KeysUrl: {p}/api/lti/security/jwks
    selfHosted: true
    allowHttpLoopback: true
    deploymentIds: ["42:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"]
"""
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_haproxy(self, port, backends):
        servers = "".join(f"  server s{i} 127.0.0.1:{b}\n" for i, b in enumerate(backends))
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 2s\n"
                    "  timeout client 60s\n  timeout server 60s\n"
                    f"frontend lti\n  bind 127.0.0.1:{port}\n  default_backend ltigate\n"
                    f"backend ltigate\n  balance roundrobin\n{servers}")
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        return self.spawn("haproxy", [haproxy, "-db", "-f", path])

    def load(self, tool, *args):
        cmd = [self.bin("ltisim"), "load", "--json", "--quiet", "--tool", tool, "--platform",
               self.platform, "--state-dir", self.state_dir, *args]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode not in (0, 1) or not r.stdout.strip():
            sys.exit(f"cluster-bench: {' '.join(cmd)} failed: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def measure(self, label, backend, instances, balanced):
        ports = [free_port() for _ in range(instances)]
        lb_port = free_port() if balanced else None
        base = f"http://127.0.0.1:{lb_port if balanced else ports[0]}"
        servers = []
        for i, port in enumerate(ports):
            name = f"{backend}{instances}-{i}"
            # Instances of one configuration share the key prefix, and so
            # the login states; each configuration gets its own.
            conf = self.write_config(name, f"bench-{backend}{instances}:", port, backend, base)
            servers.append(self.spawn(name, [self.bin("ltigate"), "--config", conf]))
        for port in ports:
            if not wait_for(f"http://127.0.0.1:{port}/readyz"):
                sys.exit(f"cluster-bench: ltigate on port {port} not ready; see {self.dir}")
        lb = self.start_haproxy(lb_port, ports) if balanced else None
        if balanced and not wait_for(base + "/healthz"):
            sys.exit("cluster-bench: haproxy did not start; see " + self.dir)

        # Warm-up: every instance fetches the platform's key set.
        self.load(base, "--count", str(50 * instances), "--concurrency", "4")

        watched = [p.pid for p in servers]
        cpu0 = sum(proc_cpu_s(pid) for pid in watched)
        redis0 = proc_cpu_s(self.redis.pid)
        lb0 = proc_cpu_s(lb.pid) if lb else 0.0
        calls0 = redis_calls(self.redis_port)
        rep = self.load(base, "--mode", "split", "--count", str(self.count), "--concurrency",
                        str(self.concurrency))
        cpu = sum(proc_cpu_s(pid) for pid in watched) - cpu0
        redis_cpu = proc_cpu_s(self.redis.pid) - redis0
        lb_cpu = (proc_cpu_s(lb.pid) - lb0) if lb else 0.0
        calls = redis_calls(self.redis_port) - calls0

        phases = {ph["name"]: ph for ph in rep["phases"]}
        ok = rep["summary"]["ok"]
        row = {
            "label": label,
            "logins_per_s": phases["logins"]["per_second"],
            "launches_per_s": rep["summary"]["rate"],
            "ok": ok,
            "errors": rep["summary"]["errors"],
            "ltigate_us": 1e6 * cpu / ok if ok else 0,
            "redis_us": 1e6 * redis_cpu / ok if ok and backend == "redis" else None,
            "haproxy_us": 1e6 * lb_cpu / ok if ok and lb else None,
            "redis_calls": calls / ok if ok and backend == "redis" else None,
        }
        print(f"{label}: {rep['summary']['rate']:.0f} launch POSTs/s, "
              f"{rep['summary']['errors']} errors {rep.get('errors_by_reason') or ''}",
              file=sys.stderr)
        if lb:
            self.stop(lb)
        for p in servers:
            self.stop(p)
        return row

    def report(self, repeat):
        base = self.rows[0]
        print(f"| configuration | logins/s | launch POSTs/s | vs memory | ltigate CPU µs "
              f"per launch | Redis CPU µs per launch | HAProxy CPU µs per launch | Redis "
              f"commands per launch | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

        def opt(v, fmt):
            return "-" if v is None else format(v, fmt)

        for r in self.rows:
            print(f"| {r['label']} | {r['logins_per_s']:,.0f} | {r['launches_per_s']:,.0f} | "
                  f"{100 * r['launches_per_s'] / base['launches_per_s']:.0f} % | "
                  f"{r['ltigate_us']:.0f} | {opt(r['redis_us'], '.0f')} | "
                  f"{opt(r['haproxy_us'], '.0f')} | {opt(r['redis_calls'], '.2f')} | "
                  f"{r['errors']} |")
        print()
        print(f"{self.count} logins then {self.count} launch POSTs per run, "
              f"{self.concurrency} concurrent connections, median of {repeat} interleaved "
              f"rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the "
              f"end; command: scripts/cluster-bench.py {os.path.relpath(self.build, TOP)} "
              f"--count {self.count} --concurrency {self.concurrency} --repeat {repeat}")

    def cleanup(self):
        for p in list(self.procs):
            self.stop(p)
        if os.environ.get("LTIGATE_KEEP_BENCH_DIR") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default=os.path.join(TOP, "build"))
    ap.add_argument("--count", type=int, default=5000, help="launches per configuration")
    ap.add_argument("--concurrency", type=int, default=32, help="simultaneous connections")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds over the three configurations; each row is the median round")
    args = ap.parse_args()
    bench = Bench(args.build, args.count, args.concurrency)
    configs = [("memory, 1 instance", "memory", 1, False),
               ("redis, 1 instance", "redis", 1, False),
               ("redis, 2 instances behind HAProxy", "redis", 2, True)]
    try:
        bench.start_shared()
        # Rounds interleave the configurations, so a burst of load from
        # other programs on the machine spreads over all of them.
        runs = [[] for _ in configs]
        for _ in range(args.repeat):
            for i, config in enumerate(configs):
                runs[i].append(bench.measure(*config))
        for rows in runs:
            rows.sort(key=lambda r: r["launches_per_s"])
            bench.rows.append(rows[len(rows) // 2])
        bench.report(args.repeat)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
