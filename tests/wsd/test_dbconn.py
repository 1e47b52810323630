"""The writer connection under load: statements larger than the socket's
buffer are sent whole (the writer never stalls with output pending); a
connection whose query gets no answer within db_stall_timeout is logged
and reconnected; group commit keeps one batch in flight and sends what
gathered meanwhile as the next (ARCHITECTURE.md 6 and 8, OPERATIONS.md)."""

import asyncio
import subprocess
import time
import uuid

from sbtest import (Locker, WsdTestCase, bounded, make_token, metric_sum, metrics_of,
                    psql, stored)

# Event data of about 60 KB (under the default max_data_bytes of 64 KiB):
# 64 of them in one group commit make a statement of about 4 MB, many times
# a socket's send buffer.
BIG = "x" * 60000


class LargeStatementTest(WsdTestCase):

    @bounded(60)
    async def test_big_batches_then_everything_still_answered(self):
        """Rounds of 64 large publishes from 4 connections at once; every
        one is acknowledged, and subscribes and small publishes made
        meanwhile are answered. A long commit_window gathers each round
        into one statement of about 4 MB."""
        node = await self.start_node(commit_window="500ms")
        ch = self.chan()
        tok = make_token("big", "user", ("chat:*",))
        pubs = [await self.connect(tok, node=node) for _ in range(4)]
        other = await self.connect(tok, node=node)
        acks = []
        for rnd in range(3):
            burst = asyncio.gather(*(p.publish(ch, {"r": rnd, "k": k, "pad": BIG}, timeout=30)
                                     for p in pubs for k in range(16)))
            side = [await other.subscribe(self.chan(tag="side%d%d" % (rnd, i)), timeout=20)
                    for i in range(3)]
            small = await other.publish(self.chan(tag="small%d" % rnd), {"r": rnd}, timeout=20)
            self.assertEqual([s["op"] for s in side], ["subscribed"] * 3, side)
            self.assertEqual(small["op"], "ack", small)
            got = await burst
            self.assertEqual([a["op"] for a in got], ["ack"] * len(got), got[:2])
            acks += got
        self.assertEqual(sorted(a["seq"] for a in acks), list(range(1, 3 * 64 + 1)))
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual(len(rows), 3 * 64)
        self.assertTrue(all(ev["data"]["pad"] == BIG for _, ev in rows))
        await self.assertNodeUp(node)


def batches(samples):
    return metric_sum(samples, "switchboard_commit_batch_size_count")


class GroupCommitTest(WsdTestCase):

    @bounded(40)
    async def test_one_batch_in_flight_the_rest_follows_at_once(self):
        """While a batch waits in the database, 60 publishes to other
        channels arrive over many commit windows and gather; when it
        commits they go as one more batch, in one transaction."""
        node = await self.start_node()
        ch = self.chan()
        c = await self.user("gc", node=node)
        self.assertEqual((await c.publish(ch, {"n": 0}))["op"], "ack")
        locker = Locker("SELECT name FROM switchboard.channels WHERE name = '%s' FOR UPDATE" % ch)
        try:
            await locker.locked()
            before = batches(await metrics_of(node))
            first = asyncio.ensure_future(c.publish(ch, {"n": 1}, timeout=20))
            await asyncio.sleep(0.3)  # its batch is in flight, waiting for the lock
            others = [self.chan(tag="o%d" % i) for i in range(60)]
            sent = []
            for i, o in enumerate(others):  # spread over 1.2 s, many windows
                sent.append(asyncio.ensure_future(c.publish(o, {"n": i}, timeout=20)))
                await asyncio.sleep(0.02)
            rest = asyncio.gather(*sent)
            await asyncio.sleep(0.2)
            self.assertFalse(rest.done(), "acknowledged while the first batch waits")
        finally:
            await locker.release()
        self.assertEqual((await first)["op"], "ack")
        acks = await rest
        self.assertEqual([a["op"] for a in acks], ["ack"] * 60, acks[:2])
        self.assertEqual(batches(await metrics_of(node)) - before, 2)
        n = await asyncio.to_thread(
            psql, "SELECT count(DISTINCT created_at) FROM switchboard.events "
            "WHERE channel = ANY (string_to_array(:'chs', ','));", chs=",".join(others))
        self.assertEqual(n, "1", "the gathered publishes share one transaction")


class StallWatchdogTest(WsdTestCase):

    @bounded(60)
    async def test_unanswered_query_reconnects(self):
        """A publish whose transaction waits on a lock held elsewhere gets
        no answer: after db_stall_timeout the node logs it, reconnects and
        answers unavailable; the retry with the same id, once the lock is
        gone, is acknowledged with the original event, stored once."""
        node = await self.start_node(db_stall_timeout="2s", db_pool_size=1)
        ch = self.chan()
        c = await self.user("stall", node=node)
        first = await c.publish(ch, {"n": 1})
        self.assertEqual(first["op"], "ack", first)
        before = await metrics_of(node)
        locker = Locker("SELECT name FROM switchboard.channels WHERE name = '%s' FOR UPDATE" % ch)
        try:
            await locker.locked()
            eid = str(uuid.uuid4())
            t0 = time.monotonic()
            stuck = await c.publish(ch, {"n": 2}, id=eid, timeout=15)
            waited = time.monotonic() - t0
            self.assertError(stuck, "unavailable")
            self.assertGreaterEqual(waited, 1.5, "answered before db_stall_timeout")
        finally:
            await locker.release()
        self.assertIn("no answer", node.log_tail(50))
        deadline = time.monotonic() + 15
        while True:
            again = await c.publish(ch, {"n": 2}, id=eid, timeout=15)
            if again["op"] == "ack" or time.monotonic() > deadline:
                break
            self.assertError(again, "unavailable")
            await asyncio.sleep(0.2)
        self.assertEqual(again["op"], "ack", again)
        self.assertEqual(again["id"], eid)
        after = await metrics_of(node)
        self.assertGreater(metric_sum(after, "switchboard_db_reconnects_total"),
                           metric_sum(before, "switchboard_db_reconnects_total"))
        n = await asyncio.to_thread(psql, "SELECT count(*) FROM switchboard.events "
                                    "WHERE channel = :'ch' AND id = :'id';", ch=ch, id=eid)
        self.assertEqual(n, "1")
        await self.assertNodeUp(node)
