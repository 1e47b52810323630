/*
 * inbox.h: what the agent reads. It keeps a cursor (the last seq handled)
 * for every chat channel its patterns match, reads new events with
 * events_after() when a doorbell says a channel moved, and hands user
 * messages and cancels to hooks, each event once, in seq order.
 *
 * At the first connect every channel starts at its current last seq, so
 * messages written before the agent started are not answered. After a
 * reconnect every channel resumes from its cursor, and a channel created
 * while the connection was down is read from its start. At most
 * AGENT_INBOX_CHANNELS_MAX channels are followed.
 */
#ifndef AGENT_INBOX_H
#define AGENT_INBOX_H

#include "db.h"

/* Channels followed at most (memory bound; more are ignored and logged). */
#define AGENT_INBOX_CHANNELS_MAX 4096

struct agent_inbox_hooks {
    /* A message (type message, a text) from a sender that is not an agent
     * or the system. */
    void (*message)(const char *channel, const char *id, const char *sender,
                    const char *text, void *arg);
    /* A cancel of the turn answering message reply_to. */
    void (*cancel)(const char *channel, const char *reply_to,
                   const char *sender, void *arg);
    void *arg;
};

struct agent_inbox;

/* An inbox reading through db for the channels matching patterns (a
 * NULL-terminated list, borrowed). Never NULL. */
struct agent_inbox *agent_inbox_new(struct agent_db *db, char *const *patterns,
                                    const struct agent_inbox_hooks *hooks);
/* Release; NULL does nothing. Call after agent_db_free, which completes
 * the reads still queued. */
void agent_inbox_free(struct agent_inbox *in);

/* The connection is up (again): take a snapshot of the channels. */
void agent_inbox_up(struct agent_inbox *in);
/* A doorbell's payload arrived. */
void agent_inbox_doorbell(struct agent_inbox *in, const char *payload);
/* Stop handing events to the hooks (shutting down). */
void agent_inbox_close(struct agent_inbox *in);

#endif
