/*
 * lastseq.h: the last seq of channels as the doorbells announced them, in
 * a bounded direct-mapped table: FCGI_LASTSEQ_SLOTS slots, a channel whose
 * slot another channel took is simply unknown again. It lets a long-poll
 * whose cursors are all current park without reading the database. Not
 * locked: deliver.c guards it with the doorbell generation.
 */
#ifndef FCGI_LASTSEQ_H
#define FCGI_LASTSEQ_H

#include <stdint.h>

/* Slots of the table: channels remembered at once (about 170 bytes
 * each, touched only when used). */
#define FCGI_LASTSEQ_SLOTS 4096

struct fcgi_lastseq;

/* An empty table. Never NULL. */
struct fcgi_lastseq *fcgi_lastseq_new(void);
/* NULL does nothing. */
void fcgi_lastseq_free(struct fcgi_lastseq *t);
/* Forget every channel. */
void fcgi_lastseq_clear(struct fcgi_lastseq *t);
/* channel is at seq (or later, if a higher seq is known already). */
void fcgi_lastseq_set(struct fcgi_lastseq *t, const char *channel, int64_t seq);
/* The known last seq of channel, or -1 when unknown. */
int64_t fcgi_lastseq_get(const struct fcgi_lastseq *t, const char *channel);

#endif
