/*
 * tasks.h: workflows over REST (PROTOCOL.md section 5.12): create a task
 * (POST /workflows/{channel}/tasks), change one (PATCH /tasks/{id}), the
 * statistics (GET /workflows/{channel}/stats) and the task list (GET
 * /workflows/{channel}/tasks). Every change publishes workflow.stats in
 * the database itself.
 *
 * Reading a task (GET /tasks/{id}) or changing it needs read or publish on
 * the task's own channel, looked up first. Answers carry the stored task
 * as switchboard.task_get() prints it; lists are switchboard.task_list()
 * pages, newest first.
 */
#ifndef FCGI_TASKS_H
#define FCGI_TASKS_H

#include "req.h"

int fcgi_tasks_handle_create(struct fcgi_req *r);
int fcgi_tasks_handle_update(struct fcgi_req *r);
int fcgi_tasks_handle_get(struct fcgi_req *r);
int fcgi_tasks_handle_stats(struct fcgi_req *r);
int fcgi_tasks_handle_list(struct fcgi_req *r);

#endif
