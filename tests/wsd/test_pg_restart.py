"""PostgreSQL restarts mid-stream: BRIEF invariant 3, issue "Event loop and
database" (reconnect, resync from the last seq, unavailable during the
outage, health and metrics show it), PROTOCOL.md 2.4, 4.7, 4.14, 6.1.

The cluster is restarted with tests/db/pgcluster.sh: "stop DIR --keep"
(fast shutdown) and "start DIR" (same data, same port)."""

import asyncio
import subprocess
import sys
import time
import uuid

from sbtest import (ENV, NODE_A, NODE_B, WsdTestCase, ahttp_get, bounded, make_token,
                    metric_sum, metrics_of, stored, wait_healthy)


def pgcluster(*args):
    r = subprocess.run([ENV["SB_PGCLUSTER"], *args, ], capture_output=True, text=True,
                       timeout=90)
    if r.returncode != 0:
        raise RuntimeError("pgcluster.sh %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


def dedupe(seqs):
    """PROTOCOL.md 2.4: drop what is not above the last seq seen."""
    out, last = [], 0
    for s in seqs:
        if s > last:
            out.append(s)
            last = s
    return out


class PgRestartTest(WsdTestCase):

    @bounded(150)
    async def test_restart_mid_stream(self):
        ch = self.chan()
        n = 600
        tok = make_token("r", "user", ("chat:*",))
        subs = [await self.connect(tok, node=NODE_A), await self.connect(tok, node=NODE_B)]
        for s in subs:
            await s.subscribe(ch, since=0)
        pub = await self.connect(tok, node=NODE_A)
        before = await metrics_of(NODE_A)
        ids = [str(uuid.uuid4()) for _ in range(n)]
        acks = {}
        unavailable = []
        other_errors = []

        async def publish(k):
            """Publish event k until acknowledged, retrying unavailable
            after its retry delay with the same id."""
            while True:
                a = await pub.publish(ch, {"k": k}, id=ids[k], timeout=30)
                if a["op"] == "ack":
                    acks[k] = a
                    return
                if a.get("code") == "unavailable":
                    unavailable.append(a)
                    await asyncio.sleep(min(max(a.get("retry", 100), 10), 2000) / 1000)
                    continue
                other_errors.append(a)
                return

        async def publisher():
            sem = asyncio.Semaphore(10)

            async def one(k):
                async with sem:
                    await publish(k)
                    await asyncio.sleep(0.01)  # a steady stream over the restart
            await asyncio.gather(*(one(k) for k in range(n)))

        task = asyncio.ensure_future(publisher())
        await subs[0].wait_seq(ch, n // 4, timeout=30)

        # --- the outage ---
        await asyncio.to_thread(pgcluster, "stop", ENV["SB_PGCLUSTER_DIR"], "--keep")
        t_down = time.monotonic()
        try:
            self.assertTrue(await wait_healthy(NODE_A, timeout=10, want=False),
                            "/healthz still 200 with the database down")
            status, headers, body = await ahttp_get(NODE_A.port, "/healthz")
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("retry-after"), "1", headers)
            m = await metrics_of(NODE_A)
            self.assertEqual(metric_sum(m, "switchboard_db_connected"), 0)
            # A publish and a subscribe during the outage: unavailable, retry given.
            probe = await self.connect(tok, node=NODE_A)
            a = await probe.publish(self.chan(tag="-outage"), id=str(uuid.uuid4()))
            self.assertError(a, "unavailable")
            self.assertIsInstance(a.get("retry"), int, a)
            s = await probe.subscribe(self.chan(tag="-outage2"), since=0)
            self.assertError(s, "unavailable")
            self.assertIsInstance(s.get("retry"), int, s)
            await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - t_down)))
        finally:
            out = await asyncio.to_thread(pgcluster, "start", ENV["SB_PGCLUSTER_DIR"])
        self.assertIn("PGPORT='%s'" % ENV["PGPORT"], out, "the cluster came back on another port")

        # --- recovery ---
        self.assertTrue(await wait_healthy(NODE_A, timeout=30), "node a did not recover")
        self.assertTrue(await wait_healthy(NODE_B, timeout=30), "node b did not recover")
        await asyncio.wait_for(task, 90)
        self.assertEqual(other_errors, [], "publish errors other than unavailable")
        self.assertEqual(len(acks), n)
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([s for s, _ in rows], list(range(1, n + 1)), "stored seqs")
        self.assertEqual(sorted(e["id"] for _, e in rows), sorted(ids), "each id stored once")
        for s, name in zip(subs, ("a", "b")):
            await s.wait_seq(ch, n, timeout=30)
            self.assertFalse(s.closed.is_set(), "subscriber on node %s was disconnected" % name)
            seqs = s.seqs(ch)
            self.assertGapless(dedupe(seqs), 1, n, "subscriber on node %s" % name)
            dups = len(seqs) - len(set(seqs))
            if dups:
                sys.stderr.write("note: subscriber on node %s received %d duplicates around the "
                                 "restart (allowed by PROTOCOL.md 2.4)\n" % (name, dups))
        after = await metrics_of(NODE_A)
        self.assertEqual(metric_sum(after, "switchboard_db_connected"), 1)
        self.assertGreater(metric_sum(after, "switchboard_db_reconnects_total"),
                           metric_sum(before, "switchboard_db_reconnects_total"))
        if not unavailable:
            sys.stderr.write("note: no stream publish met unavailable during the outage\n")
