/*
 * script.h: the demo agent's scripted "work" for one message: which tool
 * it calls and what the tool answers, how long that takes, and the reply,
 * composed from the question and a little canned knowledge about
 * switchboard and cut into the pieces that are streamed as tokens.
 *
 * The message steers the script, so every path can be seen and tested:
 *   "fail" anywhere (any case)   the tool fails: an error, no reply
 *   "slow" anywhere              the tool takes AGENT_SCRIPT_SLOW_MS
 *   "12 * 7" (two numbers and one of + - * / x)   the calculator tool
 * Everything else searches the knowledge base.
 */
#ifndef AGENT_SCRIPT_H
#define AGENT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A tool that takes longer than this gets a warning in the activity log. */
#define AGENT_SCRIPT_SLOW_WARN_MS 2000
/* How long the tool takes when the message asks for a slow one. */
#define AGENT_SCRIPT_SLOW_MS 2500
/* Characters of the message quoted back in the reply and task title. */
#define AGENT_SCRIPT_QUOTE_MAX 80

struct agent_script {
    char *title;      /* the workflow task's title */
    const char *tool; /* the tool's name */
    json_t *input;    /* the tool's input (owned) */
    bool ok;          /* whether the tool succeeds */
    json_t *output;   /* its output when ok (owned), else NULL */
    char *error;      /* why it failed when !ok, else NULL */
    int tool_ms;      /* how long the tool takes */
    char *reply;      /* the whole reply (when ok) */
    char **tokens;    /* reply cut after each word's trailing spaces */
    size_t ntokens;
};

/* The script for message text (id and sender vary the wording). Never
 * NULL; release with agent_script_free. */
struct agent_script *agent_script_new(const char *text, const char *id,
                                      const char *sender);
/* Release s; NULL does nothing. */
void agent_script_free(struct agent_script *s);

#endif
