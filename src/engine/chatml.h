/*
** chatml.h — ChatML, the chat format of Qwen2.5-Instruct, written in one
** place: a turn is "<|im_start|>ROLE\n" TEXT "<|im_end|>\n", and a prompt
** ends with an assistant turn left open for the model to write. The agent's
** prompts (agent/prompt.c) and `generate --chat` are built with it.
**
** The writer copies text as it is: a caller putting untrusted text in a
** turn breaks up its "<|" first (prompt_defang, agent/prompt.h).
*/
#ifndef SA_CHATML_H
#define SA_CHATML_H

#include "../util/strbuf.h"

/* Qwen2.5's default system prompt (its chat template's, when no system turn is given). */
extern const char *const QWEN25_DEFAULT_SYSTEM;

/* Appends "<|im_start|>ROLE\n": a turn opened, its text to follow. */
void chatml_open(strbuf *b, const char *role);
/* Appends "<|im_end|>\n": the open turn closed. */
void chatml_close(strbuf *b);
/* A whole turn: chatml_open, text, chatml_close. */
void chatml_turn(strbuf *b, const char *role, const char *text);

/* "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
** with Qwen2.5's default system prompt when system is NULL. malloc'd (NULL
** when out of memory). */
char *chatml_format(const char *system, const char *user);

#endif
