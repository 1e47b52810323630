/*
 * shutdown.h: the SIGTERM sequence (PROTOCOL.md 4.16): refuse new
 * connections, send the gathered publishes and wait for their
 * acknowledgements, close the clients with 1001 in batches, leave
 * switchboard.nodes and wait for the queries still queued (presence
 * leaves, disconnect audits), stop the loop; the database connections
 * close after that. Each stage is bounded in time.
 */
#ifndef WSD_SHUTDOWN_H
#define WSD_SHUTDOWN_H

void wsd_shutdown_begin(void);

#endif
