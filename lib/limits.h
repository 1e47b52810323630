/*
 * limits.h: every named limit of switchboard, shared by fcgi, wsd and the
 * tests. The database enforces the same values (switchboard.limits() returns
 * them, and tests/db/lib_vs_sql.c compares both sides), so a value changed
 * here must change in sql/001_foundation.sql too.
 */
#ifndef SB_LIMITS_H
#define SB_LIMITS_H

/* Namespace: short, lower-case, so it can name a policy row and a log field. */
#define SB_NAMESPACE_MAX 32
/* The part of a channel after the colon: room for ids and paths, not text. */
#define SB_CHANNEL_NAME_MAX 128
/* A whole channel: namespace, colon, name. */
#define SB_CHANNEL_MAX (SB_NAMESPACE_MAX + 1 + SB_CHANNEL_NAME_MAX)
/* Token subject (sub): short enough that "<role>:<sub>" fits SB_SENDER_MAX
 * with the longest role name ("reader", 6 bytes) and the colon. */
#define SB_SUBJECT_MAX 121
/* Event type: dotted identifiers such as "workflow.stats". */
#define SB_TYPE_MAX 64
/* Sender: "<role>:<subject>", the subject being a token's sub (<= 128). */
#define SB_SENDER_MAX 128
/* Default ceiling of an event's serialized data; configurable per daemon and
 * per database (switchboard.max_data_bytes), never above SB_DATA_MAX_HARD. */
#define SB_DATA_MAX_DEFAULT 65536
/* Absolute ceiling of event data: keeps one event well under a frame and a
 * history page bounded in memory. */
#define SB_DATA_MAX_HARD 1048576
/* Nesting depth of event data: deep nesting is an attack, not a payload. */
#define SB_DATA_DEPTH_MAX 32
/* Activity log message: one line of human text, not a document. */
#define SB_LOG_MESSAGE_MAX 4096
/* PostgreSQL: a NOTIFY payload must be shorter than 8000 bytes. */
#define SB_NOTIFY_PAYLOAD_MAX 7999
/* Events per publish_batch call: bounds one transaction's lock time. */
#define SB_BATCH_MAX 1000
/* Rows per history read: bounds one response. */
#define SB_HISTORY_MAX 1000
/* A compact JWT: a header, ~64 patterns of 161 bytes and a signature. */
#define SB_TOKEN_MAX 16384
/* Channel patterns one token may carry. */
#define SB_TOKEN_PATTERNS_MAX 64
/* Seconds of clock skew accepted on a token's exp and nbf. */
#define SB_TOKEN_LEEWAY 30

#endif
