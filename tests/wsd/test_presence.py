"""Presence: PROTOCOL.md 1.4.4, 4.5, 4.10."""

import asyncio
import os
import signal
import unittest


from sbtest import NODE_B, WsdTestCase, apsql, bounded, make_token


def presence_signals(client, channel, kind, subject=None):
    return [e for e in client.signals(channel, presence=True)
            if e["type"] == kind and (subject is None or e["data"].get("subject") == subject)]


class PresenceTest(WsdTestCase):

    async def members(self, c, ch):
        p = await c.request({"op": "presence", "channel": ch}, "presence")
        self.assertEqual((p["op"], p["channel"]), ("presence", ch), p)
        return p["members"]

    @bounded(20)
    async def test_join_leave_and_list(self):
        ch = self.chan()
        alice = await self.user("alice")
        await alice.subscribe(ch)
        # alice sees her own join.
        await alice.wait_until(lambda: presence_signals(alice, ch, "presence.join", "user:alice"),
                               what="own presence.join")
        bob = await self.user("bob", node=NODE_B)
        await bob.subscribe(ch)
        await alice.wait_until(lambda: presence_signals(alice, ch, "presence.join", "user:bob"),
                               what="bob's presence.join")
        j = presence_signals(alice, ch, "presence.join", "user:bob")[0]
        self.assertEqual((j["seq"], j["sender"]), (None, "system:presence"))
        self.assertEqual(j["data"]["node"], "wsdtest-b")
        self.assertEqual(j["data"]["connections"], 1)
        self.assertIsInstance(j["data"]["conn"], str)
        members = await self.members(alice, ch)
        self.assertEqual([m["subject"] for m in members], ["user:alice", "user:bob"])
        self.assertEqual([m["node"] for m in members], ["wsdtest-a", "wsdtest-b"])
        for m in members:
            self.assertEqual(set(m), {"subject", "node", "conn", "joined_at"})
        # A second connection of bob: connections 2.
        bob2 = await self.user("bob")
        await bob2.subscribe(ch)
        await alice.wait_until(lambda: len(presence_signals(alice, ch, "presence.join",
                                                            "user:bob")) >= 2,
                               what="bob's second join")
        self.assertEqual(presence_signals(alice, ch, "presence.join", "user:bob")[1]["data"]
                         ["connections"], 2)
        # Resubscribing the same connection sends no second join.
        await bob2.subscribe(ch, since=0)
        # Unsubscribe: leave with connections 1; disconnect: leave with 0.
        await bob2.request({"op": "unsubscribe", "channel": ch}, "unsubscribed")
        await alice.wait_until(lambda: presence_signals(alice, ch, "presence.leave", "user:bob"),
                               what="leave on unsubscribe")
        self.assertEqual(presence_signals(alice, ch, "presence.leave", "user:bob")[0]["data"]
                         ["connections"], 1)
        await bob.close()
        await alice.wait_until(lambda: len(presence_signals(alice, ch, "presence.leave",
                                                            "user:bob")) >= 2,
                               what="leave on disconnect")
        self.assertEqual(presence_signals(alice, ch, "presence.leave", "user:bob")[1]["data"]
                         ["connections"], 0)
        self.assertEqual(len(presence_signals(alice, ch, "presence.join", "user:bob")), 2,
                         "a repeated join of one connection sent a signal")
        members = await self.members(alice, ch)
        self.assertEqual([m["subject"] for m in members], ["user:alice"])
        out = await apsql("SELECT string_agg(subject, ',' ORDER BY joined_at) "
                          "FROM switchboard.presence_list(:'ch');", ch=ch)
        self.assertEqual(out, "user:alice")

    @bounded(10)
    async def test_no_presence_namespace(self):
        ch = self.chan("activity")
        c = await self.user()
        await c.subscribe(ch)
        self.assertEqual(await self.members(c, ch), [])
        self.assertTrue(await c.alive())
        self.assertEqual(c.signals(ch, presence=True), [])

    @bounded(20)
    async def test_presence_follows_namespace_policy(self):
        """Which namespaces keep presence is the database's namespaces
        policy, read again by the nodes at every heartbeat."""
        ch = self.chan("alerts")
        await apsql("UPDATE switchboard.namespaces SET presence = true WHERE name = 'alerts';")
        try:
            await asyncio.sleep(1.5)  # a heartbeat (1 s here) re-reads the policy
            c = await self.user("alice")
            await c.subscribe(ch)
            await c.wait_until(lambda: presence_signals(c, ch, "presence.join", "user:alice"),
                               what="presence.join on an alerts channel")
            self.assertEqual([m["subject"] for m in await self.members(c, ch)], ["user:alice"])
        finally:
            await apsql("UPDATE switchboard.namespaces SET presence = false "
                        "WHERE name = 'alerts';")
        # Turned off: no presence, even before the nodes read the policy again.
        ch2 = self.chan("alerts", tag="-off")
        d = await self.user("bob")
        await d.subscribe(ch2)
        self.assertEqual(await self.members(d, ch2), [])
        self.assertTrue(await d.alive())
        self.assertEqual(d.signals(ch2, presence=True), [])

    @bounded(10)
    async def test_presence_needs_read_and_ref(self):
        ch = self.chan()
        c = await self.connect(make_token("x", "reader", ("chat:nothing",)))
        self.assertError(await c.request({"op": "presence", "channel": ch}, "presence"), "forbidden")
        await c.send({"op": "presence", "channel": ch})
        self.assertError(await c.expect("error"), "bad_request")


@unittest.skipUnless(os.environ.get("SB_WSD_SLOW") == "1",
                     "takes over 60 s: set SB_WSD_SLOW=1 to run it")
class CrashedNodePresenceTest(WsdTestCase):

    @bounded(120)
    async def test_crashed_node_leaves_within_bound(self):
        """PROTOCOL.md 1.4.4, 4.10: the entries of a node that died go
        within 60 s of its last heartbeat, with presence.leave."""
        node = await self.start_node("crash")
        ch = self.chan()
        watcher = await self.user("watcher")
        await watcher.subscribe(ch)
        victim = await self.user("victim", node=node)
        await victim.subscribe(ch)
        await watcher.wait_until(lambda: presence_signals(watcher, ch, "presence.join",
                                                          "user:victim"), what="join")
        node.kill(signal.SIGKILL)
        await watcher.wait_until(lambda: presence_signals(watcher, ch, "presence.leave",
                                                          "user:victim"),
                                 timeout=90, what="presence.leave of the dead node")
        leave = presence_signals(watcher, ch, "presence.leave", "user:victim")[0]
        self.assertEqual((leave["data"]["node"], leave["data"]["connections"]),
                         ("wsdtest-crash", 0))
        p = await watcher.request({"op": "presence", "channel": ch}, "presence")
        self.assertNotIn("user:victim", [m["subject"] for m in p["members"]])
