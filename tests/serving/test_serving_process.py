"""A real `shelflm serve` process on loopback: no acknowledged event lost to SIGKILL, and hot
reloads under concurrent requests without one failed request."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from hashing_model import LOADER, LOADER_PATH
from loopback import free_port, wait_ready

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": "k"}


class Server:
    """`python -m shelflm.commands.serve` in a subprocess, ready when /health/ready says so."""

    def __init__(self, artifact: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "shelflm.commands.serve", str(artifact), "--host",
               "127.0.0.1", "--port", str(self.port), "--loader", LOADER, "--api-key", "k",
               *extra]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               # the server imports the test double's loader from tests/
               "PYTHONPATH": os.pathsep.join([LOADER_PATH, os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_ready(self.proc, self.url, 60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_sigkill_loses_no_acknowledged_event(make_artifact, tmp_path: Path) -> None:
    artifact, db = make_artifact("a"), tmp_path / "events.sqlite"
    server = Server(artifact, "--events-db", str(db))
    acked: list[tuple[str, int]] = []
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            for batch in range(400):  # bounded: the kill comes long before the end
                if batch == 20:  # kill while batches are in flight, not between them
                    threading.Timer(0.02, os.kill, (server.proc.pid, signal.SIGKILL)).start()
                events = [{"user_id": f"u{batch}", "item_id": f"i{j}", "event": "view",
                           "timestamp": batch * 100 + j} for j in range(10)]
                try:
                    r = client.post("/events", json={"events": events}, headers=KEY)
                except httpx.TransportError:
                    break
                assert r.status_code == 200, r.text
                acked.extend((e["user_id"], e["timestamp"]) for e in events)
        server.proc.wait(10)
        assert server.proc.returncode == -signal.SIGKILL
    finally:
        server.stop(signal.SIGKILL)
    assert len(acked) >= 200
    restarted = Server(artifact, "--events-db", str(db))  # recovers the WAL on start
    try:
        r = httpx.get(f"{restarted.url}/users/u0/recommendations", timeout=5).json()
        assert r["source"] == "personal"
    finally:
        restarted.stop()
    with sqlite3.connect(db) as conn:
        stored = set(conn.execute("SELECT user_id, ts FROM events").fetchall())
    lost = [e for e in acked if e not in stored]
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged events lost"


def test_hot_reload_under_concurrent_requests_fails_nothing(make_artifact) -> None:
    artifacts = [make_artifact("a"), make_artifact("b", seed=1)]
    server = Server(artifacts[0], "--memory-store")
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def shopper(n: int) -> None:
        nonlocal done
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for i in range(400):  # bounded
                if stop.is_set():
                    return
                try:
                    if i % 4 == 0:
                        r = client.post("/events", headers=KEY, json={"events": [
                            {"user_id": f"s{n}", "item_id": f"i{i % 20}", "event": "click"}]})
                    else:
                        r = client.get(f"/users/s{n}/recommendations", params={"k": 5})
                    if r.status_code != 200 or (i % 4 and not r.json()["items"]):
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                done += 1

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(4)]
    versions = []
    try:
        for t in threads:
            t.start()
        with httpx.Client(base_url=server.url, timeout=30) as admin:
            for i in range(6):
                r = admin.post("/admin/reload", headers=KEY,
                               json={"artifact_dir": str(artifacts[(i + 1) % 2])})
                assert r.status_code == 200, r.text
                versions.append(r.json()["model_version"])
                time.sleep(0.1)
            stop.set()
            for t in threads:
                t.join(60)
            assert admin.get("/model").json()["version"] == versions[-1]
    finally:
        stop.set()
        server.stop()
    assert len(set(versions)) == 2 and done > 0
    assert failures == []


def test_two_workers_share_new_items_deletes_and_events(artifact: Path, tmp_path: Path) -> None:
    server = Server(artifact, "--workers", "2", "--events-db", str(tmp_path / "events.sqlite"))
    try:
        item = {"item_id": "n1", "title": "red matte lipstick", "category": "Beauty > Makeup"}
        assert httpx.put(server.url + "/items", json={"items": [item]}, headers=KEY,
                         timeout=30).status_code == 200
        assert httpx.delete(server.url + "/items/i1", headers=KEY).status_code == 200
        events = {"events": [{"user_id": "u", "item_id": "n1", "event": "purchase"}]}
        assert httpx.post(server.url + "/events", json=events, headers=KEY).status_code == 200
        pids = set()
        for _ in range(200):  # a fresh connection each time: the kernel spreads them
            pids.add(httpx.get(server.url + "/model").json()["worker_pid"])
            similar = httpx.get(server.url + "/items/i0/similar", params={"k": 19}).json()
            got = {x["item_id"] for x in similar["items"]}
            assert "n1" in got and "i1" not in got
            rec = httpx.get(server.url + "/users/u/recommendations", params={"k": 5}).json()
            assert rec["source"] == "personal" and "n1" not in {x["item_id"] for x in
                                                                rec["items"]}
            if len(pids) == 2:
                break
        assert len(pids) == 2  # both workers answered, and both knew everything
    finally:
        server.stop()


def test_a_reload_reaches_every_worker_without_a_failed_request(make_artifact,
                                                                 tmp_path: Path) -> None:
    first, second = make_artifact("a"), make_artifact("b", seed=1)
    server = Server(first, "--workers", "2", "--events-db", str(tmp_path / "events.sqlite"))
    failures: list[str] = []
    stop = threading.Event()

    def shopper(n: int) -> None:
        for _ in range(2000):  # bounded; a fresh connection each time reaches both workers
            if stop.is_set():
                return
            try:
                r = httpx.get(f"{server.url}/users/s{n}/recommendations", params={"k": 5})
                if r.status_code != 200 or not r.json()["items"]:
                    failures.append(f"{r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=shopper, args=(n,)) for n in range(2)]
    try:
        for t in threads:
            t.start()
        r = httpx.post(server.url + "/admin/reload", headers=KEY, timeout=30,
                       json={"artifact_dir": str(second)})
        assert r.status_code == 200, r.text
        version = r.json()["model_version"]
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = httpx.get(server.url + "/model").json()
            seen[info["worker_pid"]] = info["version"]
            if len(seen) == 2 and set(seen.values()) == {version}:
                break
            time.sleep(0.05)
        assert len(seen) == 2 and set(seen.values()) == {version}, seen
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()
    assert failures == []
