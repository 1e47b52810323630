"""publish and signal: PROTOCOL.md 1.2, 2.5, 2.6, 4.7, 4.8."""

import asyncio
import uuid

from sbtest import WsdTestCase, apsql, bounded, last_seq, stored


class IdempotentPublishTest(WsdTestCase):

    @bounded(15)
    async def test_same_id_twice(self):
        ch = self.chan()
        c = await self.user("alice")
        eid = str(uuid.uuid4())
        a1 = await c.publish(ch, {"text": "first"}, id=eid)
        self.assertEqual((a1["op"], a1["seq"], a1["id"], a1["duplicate"]), ("ack", 1, eid, False), a1)
        # The retry's type and data are ignored: the original stands.
        a2 = await c.publish(ch, {"text": "second"}, type="reply", id=eid)
        self.assertEqual((a2["op"], a2["seq"], a2["id"], a2["duplicate"]), ("ack", 1, eid, True), a2)
        # From another connection (a retry after reconnecting) too.
        d = await self.user("alice")
        a3 = await d.publish(ch, {"text": "third"}, id=eid)
        self.assertEqual((a3["seq"], a3["duplicate"]), (1, True), a3)
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0][1]["id"], rows[0][1]["type"], rows[0][1]["data"]),
                         (eid, "message", {"text": "first"}))
        # Ids are per channel: the same id on another channel is a new event.
        a4 = await c.publish(self.chan(tag="-2"), id=eid)
        self.assertEqual((a4["seq"], a4["duplicate"]), (1, False), a4)

    @bounded(20)
    async def test_concurrent_same_id(self):
        ch = self.chan()
        conns = [await self.user("alice") for _ in range(4)]
        for round_ in range(10):
            eid = str(uuid.uuid4())
            acks = await asyncio.gather(*(c.publish(ch, {"round": round_}, id=eid)
                                          for c in conns))
            self.assertTrue(all(a["op"] == "ack" for a in acks), acks)
            self.assertEqual(len({a["seq"] for a in acks}), 1, acks)
            self.assertEqual(sorted(a["duplicate"] for a in acks), [False, True, True, True], acks)
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([s for s, _ in rows], list(range(1, 11)))

    @bounded(15)
    async def test_same_id_in_one_burst(self):
        """Several publishes of one id from one connection, sent without
        waiting (they may share a group commit)."""
        ch = self.chan()
        c = await self.user()
        eid = str(uuid.uuid4())
        acks = await asyncio.gather(*(c.publish(ch, {"i": i}, id=eid) for i in range(5)))
        self.assertEqual({a["seq"] for a in acks}, {1}, acks)
        self.assertEqual(sorted(a["duplicate"] for a in acks), [False, True, True, True, True])
        self.assertEqual(await asyncio.to_thread(last_seq, ch), 1)

    @bounded(10)
    async def test_without_id_generates_one(self):
        ch = self.chan()
        c = await self.user()
        a1 = await c.publish(ch)
        a2 = await c.publish(ch)
        self.assertEqual((a1["seq"], a2["seq"]), (1, 2))
        self.assertNotEqual(a1["id"], a2["id"])
        rows = await asyncio.to_thread(stored, ch)
        self.assertEqual([e["id"] for _, e in rows], [a1["id"], a2["id"]])


class SignalTest(WsdTestCase):

    @bounded(15)
    async def test_signal_delivered_not_stored(self):
        ch = self.chan()
        sub = await self.user("watcher")
        await sub.subscribe(ch)
        c = await self.user("alice")
        await c.subscribe(ch)
        ack = await c.request({"op": "signal", "channel": ch, "type": "typing",
                               "data": {"active": True}}, "ack")
        self.assertEqual((ack["op"], ack["channel"], ack["seq"], ack["duplicate"]),
                         ("ack", ch, None, False), ack)
        for who in (sub, c):  # the sender's own connection included
            await who.wait_until(lambda: who.signals(ch), what="signal")
            sig = who.signals(ch)[0]
            self.assertEqual((sig["seq"], sig["id"], sig["type"], sig["sender"], sig["data"]),
                             (None, ack["id"], "typing", "user:alice", {"active": True}))
        # Without ref: delivered, no ack.
        await c.send({"op": "signal", "channel": ch, "type": "token",
                      "data": {"reply_to": "x", "index": 0, "text": "The"}})
        await sub.wait_until(lambda: len(sub.signals(ch)) >= 2, what="second signal")
        self.assertTrue(await c.alive())
        self.assertEqual([m for m in c.msgs if m.get("op") == "ack"], [])
        # Fresh ids, nothing stored, no seq consumed.
        self.assertNotEqual(sub.signals(ch)[0]["id"], sub.signals(ch)[1]["id"])
        self.assertEqual(await asyncio.to_thread(last_seq, ch), 0)
        out = await apsql("SELECT count(*) FROM switchboard.events_after(:'ch', 0);", ch=ch)
        self.assertEqual(out, "0")
        # A durable event after signals gets seq 1.
        self.assertEqual((await c.publish(ch))["seq"], 1)

    @bounded(15)
    async def test_signal_order_from_one_connection(self):
        ch = self.chan()
        sub = await self.user("watcher")
        await sub.subscribe(ch)
        c = await self.user("agent")
        for i in range(50):
            await c.send({"op": "signal", "channel": ch, "type": "token",
                          "data": {"reply_to": "r", "index": i, "text": "t%d" % i}})
        await sub.wait_until(lambda: len(sub.signals(ch)) >= 50, what="50 signals")
        self.assertEqual([s["data"]["index"] for s in sub.signals(ch)], list(range(50)))

    @bounded(15)
    async def test_signal_from_sql_reaches_subscriber(self):
        ch = self.chan()
        sub = await self.user()
        await sub.subscribe(ch)
        await apsql("SELECT switchboard.signal(:'ch', 'progress', '{\"current\": 3}', 'agent:x');",
                    ch=ch)
        await sub.wait_until(lambda: sub.signals(ch), what="signal from SQL")
        self.assertEqual(sub.signals(ch)[0]["sender"], "agent:x")

    @bounded(15)
    async def test_publish_from_sql_reaches_subscriber(self):
        ch = self.chan()
        sub = await self.user()
        await sub.subscribe(ch)
        await apsql("SELECT 1 FROM switchboard.publish(:'ch', 'message', '{\"text\": \"psql\"}', "
                    "'admin:ops');", ch=ch)
        await sub.wait_seq(ch, 1)
        self.assertEqual(sub.durable(ch)[0]["data"], {"text": "psql"})


class PublishAuditTest(WsdTestCase):
    """Issue: publishes are recorded in switchboard.audit by the group
    commit that stores them, one row per sender, address and channel of
    each commit (detail {"events", "seqs", "duplicates"})."""

    async def audit_rows(self, ch):
        out = await apsql("SELECT node, subject, remote, detail ->> 'events', detail -> 'seqs', "
                          "detail ->> 'duplicates' FROM switchboard.audit "
                          "WHERE kind = 'publish' AND channel = :'ch' ORDER BY id;", ch=ch)
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    @bounded(15)
    async def test_publishes_are_audited(self):
        ch = self.chan()
        c = await self.user("auditor")
        eid = str(uuid.uuid4())
        a1 = await c.publish(ch, {"text": "a"}, id=eid)
        a2 = await c.publish(ch, {"text": "b"}, type="reply")
        a3 = await c.publish(ch, {"text": "again"}, id=eid)
        self.assertEqual([(a["op"], a["seq"]) for a in (a1, a2, a3)],
                         [("ack", 1), ("ack", 2), ("ack", 1)], (a1, a2, a3))
        bad = await c.publish("nope:" + ch.split(":", 1)[1])
        self.assertError(bad, "unknown_namespace")
        # Each publish was answered before the next was sent: three commits.
        self.assertEqual(await self.audit_rows(ch), [
            ("wsdtest-a", "user:auditor", "127.0.0.1", "1", "[1]", "0"),
            ("wsdtest-a", "user:auditor", "127.0.0.1", "1", "[2]", "0"),
            ("wsdtest-a", "user:auditor", "127.0.0.1", "1", "[1]", "1")])
        n = await apsql("SELECT count(*) FROM switchboard.audit WHERE kind = 'publish' "
                        "AND channel = :'ch';", ch="nope:" + ch.split(":", 1)[1])
        self.assertEqual(n, "0", "a refused publish is not audited")

    @bounded(20)
    async def test_audit_shares_the_group_commit(self):
        """A burst from several connections is audited per sender within
        each group commit: fewer rows than publishes, every seq in exactly
        one row, written in the transaction that stored the events."""
        ch = self.chan()
        conns = [await self.user("burst%d" % i) for i in range(5)]
        acks = await asyncio.gather(*(c.publish(ch, {"i": i})
                                      for i in range(20) for c in conns))
        self.assertTrue(all(a["op"] == "ack" for a in acks), acks[:3])
        out = await apsql("SELECT count(*), sum((detail ->> 'events')::integer), "
                          "max((detail ->> 'events')::integer), "
                          "sum((detail ->> 'duplicates')::integer), "
                          "count(DISTINCT (subject, at)) = count(*) "
                          "FROM switchboard.audit WHERE kind = 'publish' AND channel = :'ch';",
                          ch=ch)
        rows, events, most, dups, one_per_sender = out.split("|")
        self.assertEqual((events, dups, one_per_sender), ("100", "0", "t"), out)
        self.assertLess(int(rows), 100, "a row per publish, not per sender and commit")
        self.assertGreater(int(most), 1, out)
        # Every seq once, naming an event of the row's sender stored by the
        # same transaction.
        same = await apsql("SELECT count(DISTINCT e.seq), count(*) FROM switchboard.audit a "
                           "CROSS JOIN LATERAL jsonb_array_elements_text(a.detail -> 'seqs') "
                           "AS s(seq) JOIN switchboard.events e "
                           "ON e.channel = a.channel AND e.seq = s.seq::bigint "
                           "WHERE a.kind = 'publish' AND a.channel = :'ch' "
                           "AND a.at = e.created_at AND e.sender = a.subject;", ch=ch)
        self.assertEqual(same, "100|100", "audit rows written with their events")
