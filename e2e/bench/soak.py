"""The soak load: several processes resolve, search, install and publish against one
skilldex for a while; the server's RSS and open file descriptors are sampled meanwhile.

    soak.py SERVER TOKEN SERVER_PID SECONDS PROCESSES

Prints, per operation, the count, the rate, p50/p99 and the errors; RSS and descriptors at
start and end and their trend over the run's second half.
"""

import hashlib
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import sys
import time
import urllib.parse

from skilldex_api import bundle

SKILLS = 40
# The share of each operation; SOAK_MIX=resolve:0,search:0,install:0,publish:1 isolates one.
MIX = dict(resolve=45, search=30, install=22, publish=3)
for part in filter(None, os.environ.get("SOAK_MIX", "").split(",")):
    op, _, share = part.partition(":")
    assert op in MIX, f"SOAK_MIX: unknown operation `{op}` (one of {', '.join(MIX)})"
    MIX[op] = float(share)
assert sum(MIX.values()) > 0, "SOAK_MIX: every share is 0"
IDLE = 20
WORDS = "review lint test deploy docs format security database cloud python rust api search build".split()


class Client:
    def __init__(self, server, token):
        self.host = urllib.parse.urlparse(server).netloc
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, timeout=60)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                return resp.status, payload
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    return 0, b""


def publish(c, name, version, create=False):
    """Prepare, upload, finalize: the CLI's upload path. Returns the last status."""
    data = bundle(name, f"The {name} skill for soak testing", name, version)
    body = {"version": version, "archiveSha256": hashlib.sha256(data).hexdigest(), "archiveSize": len(data)}
    if create:
        body["create"] = {"visibility": "public", "description": f"{name} " + " ".join(random.sample(WORDS, 3))}
    status, answer = c.call("POST", f"/api/v1/skills/acme/{name}/versions", body)
    if status != 201:
        return status
    upload = json.loads(answer)["versionId"]
    status, _ = c.call("PUT", f"/api/v1/uploads/{upload}", data, "application/gzip")
    if status != 200:
        return status
    status, _ = c.call("POST", f"/api/v1/skills/acme/{name}/versions/{version}/finalize", {"versionId": upload})
    return status


def worker(server, token, seconds, seed, out):
    random.seed(seed)
    c = Client(server, token)
    results = {}
    minor = 0
    end = time.time() + seconds
    while time.time() < end:
        name = f"soak-{random.randrange(SKILLS)}"
        roll = random.random() * sum(MIX.values())
        started = time.perf_counter()
        if roll < MIX["resolve"]:
            op = "resolve"
            status, _ = c.call("GET", f"/api/v1/resolve/acme/{name}?version=%5E1")
            ok = status == 200
        elif roll < MIX["resolve"] + MIX["search"]:
            op = "search"
            q = "+".join(random.sample(WORDS, random.choice([1, 2])))
            status, _ = c.call("GET", f"/api/v1/skills?q={q}&limit=20")
            ok = status == 200
        elif roll < MIX["resolve"] + MIX["search"] + MIX["install"]:
            op = "install"
            status, body = c.call("GET", f"/api/v1/resolve/acme/{name}")
            ok = status == 200
            if ok:
                version = json.loads(body)["version"]
                status, _ = c.call("GET", f"/api/v1/skills/acme/{name}/versions/{version}/archive")
                ok = status == 200
        else:
            op = "publish"
            minor += 1
            ok = publish(c, name, f"1.{seed}.{minor}") == 200
        elapsed = (time.perf_counter() - started) * 1000
        r = results.setdefault(op, {"ms": [], "errors": 0})
        r["ms"].append(elapsed)
        if not ok:
            r["errors"] += 1
    results["_seconds"] = seconds
    out.put(results)


def sample(pid, c):
    """RSS in MiB, its anonymous part (the heap; the rest is mapped files such as the search
    index's segments), open file descriptors, and what the allocator says of the heap in
    MiB (/metrics): bytes allocated and not freed, and bytes it holds for them."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(l.split(":", 1) for l in f if ":" in l)
    rss, anon = (int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    _, text = c.call("GET", "/metrics")
    gauges = dict(l.split() for l in text.decode().splitlines() if l.startswith("skilldex_heap_"))
    allocated, resident = (float(gauges.get(f"skilldex_heap_{k}_bytes", "nan")) / 2**20 for k in ("allocated", "resident"))
    return rss, anon, fds, allocated, resident


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def slope(points):
    """Least-squares slope of (t, y) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


def main():
    server, token, pid, seconds, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    c = Client(server, token)
    for i in range(SKILLS):
        status = publish(c, f"soak-{i}", "1.0.0", create=True)
        assert status in (200, 409), f"seeding soak-{i}: {status}"
    time.sleep(1)
    rss0, anon0, fds0, alloc0, res0 = sample(pid, c)
    print(f"seeded {SKILLS} skills; {procs} processes for {seconds} s; RSS {rss0:.1f} MiB, {fds0} fds at the start")
    out = mp.Queue()
    workers = [mp.Process(target=worker, args=(server, token, seconds, i + 1, out)) for i in range(procs)]
    started = time.time()
    for w in workers:
        w.start()
    samples = []
    reports = []
    # A worker's results go through a pipe it cannot leave before they are read: read them
    # as they come, while sampling, so the run ends when the workers do.
    while len(reports) < len(workers):
        t = time.time() - started
        if t <= seconds:
            samples.append((t, *sample(pid, c)))
        try:
            reports.append(out.get(timeout=2))
        except queue.Empty:
            pass
        assert t < seconds + 300, "the workers did not finish"
    for w in workers:
        w.join()
    merged = {}
    for report in reports:
        for op, r in report.items():
            if op.startswith("_"):
                continue
            m = merged.setdefault(op, {"ms": [], "errors": 0})
            m["ms"] += r["ms"]
            m["errors"] += r["errors"]
    wall = seconds
    rss1, anon1, fds1, alloc1, res1 = sample(pid, c)
    # Memory the allocator keeps after a burst goes back within its decay time (10 s): what
    # is still held after a quiet spell is what the server holds.
    time.sleep(IDLE)
    rss2, anon2, _, alloc2, res2 = sample(pid, c)
    print(f"\n{'operation':10} {'count':>8} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    total = errors = 0
    for op in ("resolve", "search", "install", "publish"):
        m = merged.get(op, {"ms": [], "errors": 0})
        total += len(m["ms"])
        errors += m["errors"]
        print(f"{op:10} {len(m['ms']):8} {len(m['ms']) / wall:8.1f} {pct(m['ms'], 50):8.2f} {pct(m['ms'], 99):8.2f} {m['errors']:7}")
    half = [s for s in samples if s[0] >= wall / 2]
    print(f"\nall: {total} operations in {wall:.0f} s ({total / wall:.1f}/s), {errors} errors")
    print(f"RSS: {rss0:.1f} MiB at the start, {rss1:.1f} MiB at the end, max {max(s[1] for s in samples):.1f} MiB; "
          f"trend over the second half {slope([(s[0], s[1]) for s in half]):+.2f} MiB/min")
    print(f"  of which anonymous (heap): {anon0:.1f} MiB at the start, {anon1:.1f} MiB at the end; "
          f"trend over the second half {slope([(s[0], s[2]) for s in half]):+.2f} MiB/min")
    print(f"  the allocator: {alloc0:.1f} MiB allocated at the start, {alloc1:.1f} MiB at the end, trend over the second half "
          f"{slope([(s[0], s[4]) for s in half]):+.2f} MiB/min; it holds {res0:.1f} → {res1:.1f} MiB, trend "
          f"{slope([(s[0], s[5]) for s in half]):+.2f} MiB/min")
    print(f"after {IDLE} s idle: RSS {rss2:.1f} MiB, anonymous {anon2:.1f} MiB; the allocator: {alloc2:.1f} MiB allocated, "
          f"holds {res2:.1f} MiB")
    print(f"open fds: {fds0} at the start, {fds1} at the end, max {max(s[3] for s in samples)}; "
          f"trend over the second half {slope([(s[0], s[3]) for s in half]):+.2f}/min")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
