"""Group commit through each web server: concurrent publishes share
transactions (the commit metrics say so) and each gets its own seqs;
idempotent retries in one group; a request the database refuses does not
fail the others of its group."""

import threading
import uuid

from fcgitest import http, make_token, metrics, server_classes, stored, uniq

ROUNDS_MAX = 10


def together(fns):
    """Run every fn at once (threads released by one barrier); their
    results in order."""
    out = [None] * len(fns)
    gate = threading.Barrier(len(fns), timeout=10)

    def run(i):
        gate.wait()
        out[i] = fns[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


class Commit:
    def publish(self, ch, body, token):
        return http(self.BASE, "POST", f"/api/v1/channels/{ch}/events", body,
                    token)

    def test_concurrent_publishes_share_commits(self):
        ch, clients, each = uniq(), 8, 10
        tokens = [make_token() for _ in range(clients)]
        before = metrics(self.BASE)

        def client(t):
            return lambda: [self.publish(ch, {"type": "message",
                                              "data": {"n": i}}, t)
                            for i in range(each)]
        replies = sum(together([client(t) for t in tokens]), [])
        after = metrics(self.BASE)
        self.assertEqual([r.status for r in replies], [201] * clients * each)
        seqs = sorted(r.json["seq"] for r in replies)
        self.assertEqual(seqs, list(range(1, clients * each + 1)))
        self.assertEqual(stored(ch), clients * each)
        commits = (after["switchboard_commit_batch_size_count"] -
                   before["switchboard_commit_batch_size_count"])
        requests = (after["switchboard_commit_requests_total"] -
                    before["switchboard_commit_requests_total"])
        events = (after["switchboard_commit_batch_size_sum"] -
                  before["switchboard_commit_batch_size_sum"])
        self.assertEqual((requests, events), (clients * each,) * 2)
        self.assertLess(commits, requests,
                        "no two requests shared a transaction")

    def test_batches_and_singles_in_one_group(self):
        ch, t = uniq("activity"), [make_token() for _ in range(4)]
        log = {"type": "log", "data": {"level": "info", "message": "x"}}
        replies = together(
            [lambda: self.publish(ch, {"events": [log] * 3}, t[0])] +
            [lambda i=i: self.publish(ch, log, t[i]) for i in range(1, 4)])
        self.assertEqual([r.status for r in replies], [200, 201, 201, 201])
        seqs = [x["seq"] for x in replies[0].json["results"]]
        self.assertEqual(seqs, sorted(seqs))
        seqs += [r.json["seq"] for r in replies[1:]]
        self.assertEqual(sorted(seqs), list(range(1, 7)))

    def test_idempotent_retries_in_one_group(self):
        ch, eid = uniq(), str(uuid.uuid4())
        body = {"type": "message", "data": {"text": "once"}, "id": eid}
        replies = together([lambda t=make_token(): self.publish(ch, body, t)
                            for _ in range(4)])
        self.assertEqual(sorted(r.status for r in replies),
                         [200, 200, 200, 201])
        self.assertEqual({r.json["seq"] for r in replies}, {1})
        self.assertEqual([r.json["duplicate"] for r in replies].count(False),
                         1)
        self.assertEqual(stored(ch), 1)
        r = self.publish(ch, body, make_token())
        self.assertEqual((r.status, r.json["seq"], r.json["duplicate"]),
                         (200, 1, True))

    def test_refused_request_does_not_fail_its_group(self):
        before = metrics(self.BASE)
        for _ in range(ROUNDS_MAX):
            good = [uniq() for _ in range(3)]
            bad = f"nons{uuid.uuid4().hex[:8]}:x"
            replies = together(
                [lambda c=c: self.publish(c, {"type": "m", "data": {}},
                                          make_token(ch=("*",)))
                 for c in good + [bad]])
            self.assertEqual([r.status for r in replies[:3]], [201] * 3,
                             replies)
            self.assertEqual((replies[3].status, replies[3].code()),
                             (422, "unknown_namespace"), replies[3])
            self.assertNotIn("index", replies[3].json["error"])
            self.assertEqual([stored(c) for c in good], [1, 1, 1])
            after = metrics(self.BASE)
            if (after["switchboard_commit_fallbacks_total"] >
                    before["switchboard_commit_fallbacks_total"]):
                break
        self.assertGreater(after["switchboard_commit_fallbacks_total"],
                           before["switchboard_commit_fallbacks_total"],
                           "the refused request never shared a group")


server_classes(globals(), Commit)
