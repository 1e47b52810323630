/*
 * node.h: this process as a node in switchboard.nodes: the heartbeat with
 * its counts (and prune_nodes, so crashed nodes' presence disappears),
 * presence rows of its connections (for the namespaces the database says
 * keep presence), the audit trail of connections (batched: a statement per
 * 250 records as soon as they wait, the rest within a second), and node_gone at shutdown.
 */
#ifndef WSD_NODE_H
#define WSD_NODE_H

#include <stdbool.h>

#include "conn.h"

/* The writer connection is (again) up: heartbeat now, then periodically. */
void wsd_node_db_up(void);
/* Stop the timers. */
void wsd_node_stop(void);

/* Record that c is on channel when its namespace has presence; returns
 * whether it did (then wsd_node_presence_leave must follow). */
bool wsd_node_presence_join(struct wsd_conn *c, const char *channel);
/* c left channel, or every channel when channel is NULL. */
void wsd_node_presence_leave(struct wsd_conn *c, const char *channel);

/* Queue an audit record (kind: connect, disconnect or auth_failure;
 * publishes are audited by their group commit, see publish.c); subject,
 * channel, remote and why may be NULL. */
void wsd_node_audit(const char *kind, const char *subject, const char *channel,
                    const char *remote, const char *why);

/* Remove this node from switchboard.nodes; done is called when the
 * database answered (or could not be asked). */
void wsd_node_gone(void (*done)(void));

#endif
