/*
 * commit.h: group commit of publishes (BRIEF invariant 5). Worker threads
 * that publish at the same time share one transaction and one doorbell:
 * the first request to arrive leads a group; it waits up to commit_window
 * for others to join (less when the group holds commit_batch events, or
 * when every worker thread is in it), stores every member's events with
 * one switchboard.publish_batch call on its own connection, and hands each
 * member its own answer, which the member's thread writes. A request
 * whose events would take the group past commit_batch starts the next
 * group.
 *
 * Every request is validated before it joins, so a group's batch fails
 * only for what the database alone checks (an unknown namespace, say).
 * Then the leader stores each member on its own, so the error lands on
 * the request that caused it and the others are stored. A group of one
 * is stored exactly as before grouping (switchboard.publish for a single
 * event), and errors that concern every member alike (the database is
 * unreachable) are given to each.
 */
#ifndef FCGI_COMMIT_H
#define FCGI_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "envelope.h"
#include "req.h"

/*
 * Store the n events of r (validated, all on one channel; borrowed) with
 * r's token subject as sender, in a group, and answer r: a single event
 * (single true) 201 or 200 with {"channel","seq","id","duplicate"}, a
 * batch 200 with {"results":[...]}, or the error (with "index" when it
 * names an element). SB_OK when stored, SB_ERR after answering an error.
 */
int fcgi_commit_publish(struct fcgi_req *r, struct sb_event *const *events,
                        size_t n, bool single);

/* Append the group-commit metrics in Prometheus text:
 * switchboard_commit_batch_size (histogram: events per transaction),
 * switchboard_commit_requests_total (requests those transactions
 * answered) and switchboard_commit_fallbacks_total (groups the database
 * refused, then stored request by request). */
void fcgi_commit_metrics(struct sb_strbuf *b);

#endif
