/*
 * script.c: the scripted work of a turn (see script.h): topic matching
 * over a small knowledge base, a calculator, and the reply's wording. The
 * reply is at most REPLY_MAX bytes: a quote of the question, two topics and
 * a closing line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"
#include "xalloc.h"

/* Room for the whole reply; every part below is bounded well under it. */
#define REPLY_MAX 2048
/* Topics a reply explains at most. */
#define TOPICS_MAX 2

struct topic {
    const char *name;
    const char *keywords[8]; /* lower case; a final '*' matches a prefix */
    const char *text;
};

static const struct topic topics[] = {
    {"ordering",
     {"seq", "order", "ordering", "gap*", "sequence*", NULL},
     "Every durable event gets a per-channel seq that is gapless and in "
     "commit order, so a client resumes with since=<last seq> and misses "
     "nothing."},
    {"reconnects",
     {"reconnect*", "offline", "resume*", "disconnect*", "lost", "network",
      NULL},
     "When a connection drops, the client reconnects with backoff and "
     "resumes every channel from its last seq: what was missed arrives "
     "once, in order."},
    {"transports",
     {"websocket*", "ws", "poll*", "long-poll*", "sse", "fallback", "proxy",
      NULL},
     "wsd speaks WebSocket; where WebSockets are blocked, switchboard-fcgi "
     "serves the same events over long-polling and Server-Sent Events "
     "behind lighttpd or Apache."},
    {"postgres",
     {"postgres*", "sql", "psql", "database*", "notify", "listen", NULL},
     "PostgreSQL is the only shared state. You can publish, read and watch "
     "everything from psql, for example SELECT * FROM "
     "switchboard.recent_chat;"},
    {"duplicates",
     {"duplicate*", "idempot*", "retry*", "twice", "double*", NULL},
     "Publishing is idempotent: an event id chosen by the client makes a "
     "retry return the original seq instead of a second copy. This reply is "
     "stored with the very id its streamed tokens announced."},
    {"auth",
     {"token*", "auth*", "jwt", "security", "secure", "permission*", NULL},
     "Access uses HS256 tokens that carry a role and channel patterns; an "
     "operator mints one from psql with switchboard.mint_token()."},
    {"activity",
     {"activity", "log*", "audit", NULL},
     "The activity log keeps info, success, warning and error entries with "
     "metadata: stored, searchable and live. I write one when I start and "
     "one when I finish every answer."},
    {"workflow",
     {"workflow*", "task*", "stats", "statistic*", "progress", NULL},
     "Workflow statistics come from real task rows: each answer of mine is "
     "a task on workflow:demo that goes from queued to active to completed, "
     "and every change publishes fresh workflow.stats."},
    {"cancel",
     {"cancel*", "stop*", "abort*", NULL},
     "You can cancel me while I stream: I stop at once, publish cancelled "
     "and mark my task cancelled, and no reply is stored for that turn."},
    {"metrics",
     {"metric*", "dashboard*", "monitor*", "chart*", NULL},
     "Metrics subscriptions take a time window and an update interval, and "
     "the server pushes only when the values change."},
    {"presence",
     {"presence", "online", "who", "typing", NULL},
     "Presence lists who is connected to a chat channel, with join and "
     "leave signals, and typing indicators travel as signals too."},
};
#define TOPIC_COUNT (sizeof(topics) / sizeof(topics[0]))

static const char *const openings[] = {
    "Good question.", "Happy to help.", "Let me take that one.",
    "Sure thing.",    "Nice one.",
};
static const char *const closings[] = {
    "Ask me about seq numbers, reconnects or tokens, or put \"fail\" in a "
    "message to watch the error path.",
    "Try \"12 * 7\" for the calculator tool, or \"slow\" for a slow tool "
    "and a warning in the activity log.",
    "Press cancel while I stream to see a turn stop cleanly.",
    "Reload the page: this conversation comes back from the server, with "
    "no reply shown twice.",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* FNV-1a, to vary the wording by message. */
static uint32_t
hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static char *
lower(const char *s)
{
    char *l = sb_strdup(s);

    for (char *p = l; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

static bool
word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* True when text (lower case) holds kw as a word, or as the start of a
 * word when kw ends in '*'. */
static bool
has_word(const char *text, const char *kw)
{
    char key[32];
    size_t len = strlen(kw);
    bool prefix = len > 0 && kw[len - 1] == '*';
    const char *p = text;

    snprintf(key, sizeof(key), "%.*s", (int)(len - prefix), kw);
    len = strlen(key);
    while ((p = strstr(p, key)) != NULL) {
        if ((p == text || !word_char(p[-1])) && (prefix || !word_char(p[len])))
            return true;
        p++;
    }
    return false;
}

static bool
topic_matches(const struct topic *t, const char *text)
{
    for (const char *const *k = t->keywords; *k != NULL; k++)
        if (has_word(text, *k))
            return true;
    return false;
}

/* --- the reply, built in a bounded buffer --------------------------------- */

struct text {
    char buf[REPLY_MAX];
    size_t len;
};

static void addf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
addf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof(t->buf) - t->len
                      ? (size_t)n
                      : sizeof(t->buf) - t->len - 1;
}

/* The first AGENT_SCRIPT_QUOTE_MAX bytes of text on one line, cut at a
 * character boundary, "..." when cut. */
static char *
quote(const char *text)
{
    size_t n = strlen(text);
    bool cut = n > AGENT_SCRIPT_QUOTE_MAX;
    char *q;

    if (cut) {
        n = AGENT_SCRIPT_QUOTE_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    q = sb_malloc(n + 4);
    for (size_t i = 0; i < n; i++)
        q[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    strcpy(q + n, cut ? "..." : "");
    return q;
}

static bool
greeting(const char *l)
{
    static const char *const words[] = {"hello",   "hi",      "hey",
                                        "morning", "evening", "greetings"};

    for (size_t i = 0; i < COUNT(words); i++)
        if (has_word(l, words[i]))
            return true;
    return false;
}

static void
compose(struct agent_script *s, const char *text, const char *l,
        const char *sender, uint32_t h, const size_t *found, size_t nfound)
{
    struct text t = {.len = 0};
    const char *who =
        strchr(sender, ':') != NULL ? strchr(sender, ':') + 1 : sender;
    char *q = quote(text);

    if (greeting(l))
        addf(&t, "Hello %s! I'm the switchboard demo agent. ", who);
    else
        addf(&t, "%s ", openings[h % COUNT(openings)]);
    addf(&t, "You %s: \"%s\"", strchr(text, '?') != NULL ? "asked" : "said", q);
    if (s->ok && strcmp(s->tool, "calculator") == 0)
        addf(&t, "\n\nThe calculator says %s = %s.",
             json_string_value(json_object_get(s->input, "expression")),
             json_string_value(json_object_get(s->output, "result")));
    if (nfound == 0 && strcmp(s->tool, "calculator") != 0)
        addf(&t,
             "\n\nI found nothing specific, so here is something I "
             "like about switchboard: %s",
             topics[(h >> 8) % TOPIC_COUNT].text);
    for (size_t i = 0; i < nfound; i++)
        addf(&t, "\n\n%s", topics[found[i]].text);
    addf(&t, "\n\n%s", closings[(h >> 16) % COUNT(closings)]);
    s->reply = sb_strndup(t.buf, t.len);
    free(q);
}

/* Cut the reply after each run of spaces: "Hello ", "there." ... */
static void
cut_tokens(struct agent_script *s)
{
    const char *p = s->reply;

    while (*p != '\0') {
        size_t n = strcspn(p, " \n");

        n += strspn(p + n, " \n");
        s->tokens = sb_realloc(s->tokens, (s->ntokens + 1) * sizeof(char *));
        s->tokens[s->ntokens++] = sb_strndup(p, n);
        p += n;
    }
}

/* --- the tools ----------------------------------------------------------- */

/* "a op b" somewhere in text: two numbers around one of + - * / x. */
static bool
find_sum(const char *text, double *a, char *op, double *b)
{
    for (const char *p = text; *p != '\0'; p++) {
        char *end;
        const char *q;

        if (!isdigit((unsigned char)*p) ||
            (p > text && (isdigit((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        *a = strtod(p, &end);
        q = end + strspn(end, " ");
        if (*q == '\0' || strchr("+-*/x", *q) == NULL ||
            (*q == 'x' && q == end))
            continue;
        *op = *q++;
        q += strspn(q, " ");
        if (!isdigit((unsigned char)*q))
            continue;
        *b = strtod(q, &end);
        return true;
    }
    return false;
}

static void
calculator(struct agent_script *s, double a, char op, double b)
{
    char expr[96], result[48];
    double r = op == '+'   ? a + b
               : op == '-' ? a - b
               : op == '/' ? a / b
                           : a * b;

    snprintf(expr, sizeof(expr), "%.10g %c %.10g", a, op == 'x' ? '*' : op, b);
    s->tool = "calculator";
    s->input = json_pack("{s:s}", "expression", expr);
    if (op == '/' && b == 0) {
        s->ok = false;
        s->error = sb_strdup("division by zero");
        return;
    }
    snprintf(result, sizeof(result), "%.10g", r);
    s->output = json_pack("{s:s,s:s}", "expression", expr, "result", result);
}

static void
knowledge(struct agent_script *s, const char *text, const size_t *found,
          size_t nfound)
{
    char *q = quote(text);
    json_t *hits = json_array();

    for (size_t i = 0; i < nfound; i++)
        json_array_append_new(hits, json_pack("{s:s,s:f}", "topic",
                                              topics[found[i]].name, "score",
                                              1.0 - 0.25 * (double)i));
    s->tool = "knowledge.search";
    s->input = json_pack("{s:s,s:i}", "query", q, "limit", TOPICS_MAX);
    s->output =
        json_pack("{s:o,s:i}", "hits", hits, "searched", (int)TOPIC_COUNT);
    free(q);
}

struct agent_script *
agent_script_new(const char *text, const char *id, const char *sender)
{
    struct agent_script *s = sb_calloc(1, sizeof(*s));
    char *l = lower(text);
    uint32_t h = hash(id);
    size_t found[TOPICS_MAX], nfound = 0;
    char *q = quote(text);
    double a, b;
    char op;

    for (size_t i = 0; i < TOPIC_COUNT && nfound < TOPICS_MAX; i++)
        if (topic_matches(&topics[i], l))
            found[nfound++] = i;
    s->ok = true;
    if (find_sum(l, &a, &op, &b))
        calculator(s, a, op, b);
    else
        knowledge(s, text, found, nfound);
    s->tool_ms = 300 + (int)(h % 400);
    if (strstr(l, "slow") != NULL)
        s->tool_ms = AGENT_SCRIPT_SLOW_MS;
    if (strstr(l, "fail") != NULL && s->ok) {
        s->ok = false;
        s->error = sb_asprintf("%s is unavailable (the message asked for a "
                               "failure)",
                               s->tool);
    }
    if (!s->ok) {
        json_decref(s->output);
        s->output = NULL;
    }
    s->title = sb_asprintf("Answer %s: %s", sender, q);
    if (s->ok) {
        compose(s, text, l, sender, h, found, nfound);
        cut_tokens(s);
    }
    free(q);
    free(l);
    return s;
}

void
agent_script_free(struct agent_script *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntokens; i++)
        free(s->tokens[i]);
    free(s->tokens);
    free(s->reply);
    free(s->error);
    free(s->title);
    json_decref(s->input);
    json_decref(s->output);
    free(s);
}
