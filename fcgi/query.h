/*
 * query.h: URL pieces: percent-decoding (RFC 3986; '+' is a space only in
 * a query) and the query string as a list of decoded name/value pairs in
 * their order, names repeated as sent (cursor=a@1&cursor=b@2).
 * Decoding fails on a bad escape or a decoded NUL byte, so a decoded
 * string is always a C string.
 */
#ifndef FCGI_QUERY_H
#define FCGI_QUERY_H

#include <stddef.h>

struct fcgi_query_pair {
    char *name;
    char *value;
};

struct fcgi_query {
    struct fcgi_query_pair *pairs; /* owned */
    size_t count;
    int bad; /* a pair did not decode; it was left out */
};

/* Decode s[0..len) into a new string (plus: '+' means ' '). NULL on a bad
 * escape or an encoded NUL. */
char *fcgi_url_decode(const char *s, size_t len, int plus);

/* Parse a query string (NULL or "" gives an empty query). Never NULL. */
struct fcgi_query *fcgi_query_new(const char *qs);
/* NULL does nothing. */
void fcgi_query_free(struct fcgi_query *q);
/* The first value of name, or NULL. */
const char *fcgi_query_get(const struct fcgi_query *q, const char *name);
/* How many times name occurs. */
size_t fcgi_query_count(const struct fcgi_query *q, const char *name);

#endif
