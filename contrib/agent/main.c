/*
 * main.c: switchboard-demo-agent, an agent that attaches to switchboard
 * through its public SQL interface and answers chat: it streams its reply
 * as token signals, stores the whole reply, calls a tool, reports progress,
 * writes activity entries at every level, moves a workflow task through its
 * states and honours cancel (turn.h says what a turn does).
 *
 * One thread around poll(): the PostgreSQL socket (db.h), a signalfd for
 * SIGTERM and SIGINT, and the turns' timers. SIGTERM or SIGINT stops new
 * work, cancels the turns that have not stored their reply, and exits once
 * everything queued is written or after STOP_MAX_MS. Exit status: 0 after
 * a clean stop, --help, --version or --check-config; 1 when it cannot
 * start; 2 for bad options.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "db.h"
#include "inbox.h"
#include "log.h"
#include "options.h"
#include "sql.h"
#include "turn.h"

/* The longest a stop waits for queued writes before leaving anyway. */
#define STOP_MAX_MS 5000

struct agent {
    struct sb_config *cfg;
    struct agent_config conf;
    struct agent_db *db;
    struct agent_inbox *inbox;
    struct agent_turns *turns;
    int sigfd;
    bool online; /* agent.health online was queued */
    bool stopping;
    int64_t stop_deadline;
};

/* agent.health on the agent's channel. */
static void
health(struct agent *a, const char *status)
{
    json_t *channels = json_array();

    for (char **p = a->conf.patterns; *p != NULL; p++)
        json_array_append_new(channels, json_string(*p));
    agent_sql_publish(a->db, a->conf.agent_channel, "agent.health",
                      json_pack("{s:s,s:o,s:I}", "status", status, "channels",
                                channels, "pid", (json_int_t)getpid()),
                      a->conf.sender, NULL, NULL, NULL);
}

/* --- hooks ------------------------------------------------------------- */

static void
on_up(void *arg)
{
    struct agent *a = arg;

    agent_inbox_up(a->inbox);
    if (!a->online)
        health(a, "online");
    a->online = true;
}

static void
on_doorbell(const char *payload, void *arg)
{
    struct agent *a = arg;

    agent_inbox_doorbell(a->inbox, payload);
}

static void
on_message(const char *channel, const char *id, const char *sender,
           const char *text, void *arg)
{
    struct agent *a = arg;

    agent_turns_message(a->turns, channel, id, sender, text);
}

static void
on_cancel(const char *channel, const char *reply_to, const char *sender,
          void *arg)
{
    struct agent *a = arg;

    agent_turns_cancel(a->turns, channel, reply_to, sender);
}

/* --- the loop ---------------------------------------------------------- */

static int
open_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void
begin_stop(struct agent *a, int64_t now)
{
    struct signalfd_siginfo si;

    while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    if (a->stopping)
        return;
    sb_log_info("stopping: %zu turns running", agent_turns_running(a->turns));
    a->stopping = true;
    a->stop_deadline = now + STOP_MAX_MS;
    agent_inbox_close(a->inbox);
    agent_turns_stop(a->turns, "the agent is stopping");
    if (a->online)
        health(a, "offline");
}

/* The smaller of two timeouts, -1 meaning none. */
static int64_t
sooner(int64_t x, int64_t y)
{
    if (x < 0)
        return y;
    if (y < 0)
        return x;
    return x < y ? x : y;
}

static bool
finished(const struct agent *a, int64_t now)
{
    if (!a->stopping)
        return false;
    return (agent_turns_running(a->turns) == 0 &&
            agent_db_pending(a->db) == 0) ||
           now >= a->stop_deadline;
}

static int
loop(struct agent *a)
{
    struct pollfd fds[2];
    int64_t now = sb_mono_ms();

    while (!finished(a, now)) {
        int64_t wait = sooner(agent_db_timeout(a->db, now),
                              agent_turns_timeout(a->turns, now));

        if (a->stopping)
            wait = sooner(wait, a->stop_deadline - now);
        fds[0] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
        fds[1].revents = 0;
        agent_db_pollfd(a->db, &fds[1].fd, &fds[1].events);
        if (poll(fds, 2, wait > 60000 ? 60000 : (int)wait) < 0 &&
            errno != EINTR) {
            sb_log_error("poll: %s", strerror(errno));
            return 1;
        }
        now = sb_mono_ms();
        if (fds[0].revents & POLLIN)
            begin_stop(a, now);
        agent_db_ready(a->db, fds[1].fd >= 0 ? fds[1].revents : 0, now);
        agent_turns_tick(a->turns, now);
    }
    if (agent_turns_running(a->turns) > 0 || agent_db_pending(a->db) > 0)
        sb_log_warn("stopped with %zu turns and %u queries unfinished",
                    agent_turns_running(a->turns), agent_db_pending(a->db));
    return 0;
}

int
main(int argc, char **argv)
{
    struct agent a = {.sigfd = -1};
    struct agent_db_hooks dbh = {on_up, on_doorbell, &a};
    struct agent_inbox_hooks inh = {on_message, on_cancel, &a};
    int status = agent_options_load(&a.cfg, &a.conf, argc, argv);

    if (status != SB_CONFIG_CONTINUE)
        goto out;
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    a.sigfd = open_signals();
    if (a.sigfd < 0) {
        sb_log_error("signalfd: %s", strerror(errno));
        status = 1;
        goto out;
    }
    a.db = agent_db_new(a.conf.dsn, &dbh);
    a.inbox = agent_inbox_new(a.db, a.conf.patterns, &inh);
    a.turns = agent_turns_new(a.db, &a.conf);
    sb_log_info("answering %s as %s (tasks on %s, activity on %s)",
                a.conf.channels, a.conf.sender, a.conf.workflow_channel,
                a.conf.activity_channel);
    status = loop(&a);
    sb_log_info("stopped");
out:
    /* The connection first: it completes what is queued, and those
     * completions still reach the inbox and the turns. */
    agent_db_free(a.db);
    agent_inbox_free(a.inbox);
    agent_turns_free(a.turns);
    if (a.sigfd >= 0)
        close(a.sigfd);
    agent_options_free(a.cfg, &a.conf);
    return status;
}
