/*
 * ratelimit.h: the publish rate limit per token subject (PROTOCOL.md
 * section 5.16): a token bucket of publish_burst that refills at
 * publish_rate per second, shared by every thread of the process. A batch
 * takes as many tokens as it has events.
 */
#ifndef FCGI_RATELIMIT_H
#define FCGI_RATELIMIT_H

/* Take n tokens from subject's bucket. SB_OK, or SB_AGAIN with *retry_ms
 * set to when enough will be there. */
int fcgi_ratelimit_take(const char *subject, long long n, long long *retry_ms);
/* Release every bucket (at exit). */
void fcgi_ratelimit_clear(void);

#endif
