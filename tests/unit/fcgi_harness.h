/*
 * fcgi_harness.h: what the unit tests of fcgi/ modules put in place of the
 * rest of switchboard-fcgi: the process state (fcgi_app, defined in
 * main.c in the program), a monotonic clock the test sets, and the end of
 * a CGI request (cgi.c). Also helpers to run a request in CGI mode through
 * the real req.c (environment, stdin, captured stdout), and the seed of
 * the randomised tests, printed with every failure so a run can be
 * repeated with SWITCHBOARD_TEST_SEED.
 */
#ifndef TESTS_UNIT_FCGI_HARNESS_H
#define TESTS_UNIT_FCGI_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What fcgi_mono_ms() and fcgi_now_ms() return. */
extern int64_t harness_clock_ms;

/* The seed for srandom(): SWITCHBOARD_TEST_SEED if set, else from the
 * time; written to stderr so a failing run can be repeated. */
unsigned harness_seed(void);

/* A CGI request: clear the CGI variables, then set the NULL-terminated
 * name/value pairs (a NULL value leaves the name unset). */
void harness_cgi_env(const char *const *pairs);
/* Make stdin read data[0..len). */
void harness_stdin(const char *data, size_t len);
/* Bytes of stdin consumed so far. */
long harness_stdin_consumed(void);
/* Send stdout to a temporary file until harness_output(). */
void harness_capture(void);
/* Restore stdout; what was written since harness_capture(), owned by the
 * caller (free). */
char *harness_output(void);

/* A captured response: its status (0 when nothing was written), whether a
 * header line (e.g. "Vary: Origin") is in its head, and its body as JSON
 * (new reference, NULL when not JSON). */
int harness_status(const char *out);
int harness_has_header(const char *out, const char *line);
json_t *harness_body(const char *out);
/* Assert that out is a JSON error response with this status and code;
 * returns its message (owned by the caller, free). */
char *harness_assert_error(const char *out, int status, const char *code);

#endif
