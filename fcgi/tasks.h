/*
 * tasks.h: workflows over REST (PROTOCOL.md section 5.12): create a task
 * (POST /workflows/{channel}/tasks), change one (PATCH /tasks/{id}), the
 * statistics (GET /workflows/{channel}/stats) and the task list (GET
 * /workflows/{channel}/tasks). Every change publishes workflow.stats in
 * the database itself.
 *
 * Limits of this schema: the application role has no function that reads
 * a task (switchboard.tasks is the owner's), so the create and update
 * answers carry what the request set rather than the stored row, listing
 * answers 500 internal, and an update needs the publish verb on every
 * workflow channel (the task's channel cannot be looked up to check it).
 */
#ifndef FCGI_TASKS_H
#define FCGI_TASKS_H

#include "req.h"

int fcgi_tasks_handle_create(struct fcgi_req *r);
int fcgi_tasks_handle_update(struct fcgi_req *r);
int fcgi_tasks_handle_stats(struct fcgi_req *r);
int fcgi_tasks_handle_list(struct fcgi_req *r);

#endif
