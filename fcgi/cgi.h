/*
 * cgi.h: CGI mode (PROTOCOL.md section 5.17): one request from the
 * environment and stdin, answered on stdout, then exit. A long-poll or
 * SSE request is parked with a waiter thread of its own (started for it)
 * and the process waits until that request is finished.
 */
#ifndef FCGI_CGI_H
#define FCGI_CGI_H

/* Serve the one request. Returns the exit status (0). */
int fcgi_cgi_run(void);
/* The request is finished (called by whichever thread finished it). */
void fcgi_cgi_done(void);

#endif
