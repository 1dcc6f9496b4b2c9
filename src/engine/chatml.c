/*
** chatml.c — see chatml.h.
*/
#include "chatml.h"

const char *const QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

void chatml_open(strbuf *b, const char *role) {
    strbuf_puts(b, "<|im_start|>");
    strbuf_puts(b, role);
    strbuf_puts(b, "\n");
}

void chatml_close(strbuf *b) { strbuf_puts(b, "<|im_end|>\n"); }

void chatml_turn(strbuf *b, const char *role, const char *text) {
    chatml_open(b, role);
    strbuf_puts(b, text);
    chatml_close(b);
}

char *chatml_format(const char *system, const char *user) {
    strbuf b;
    strbuf_init(&b);
    chatml_turn(&b, "system", system ? system : QWEN25_DEFAULT_SYSTEM);
    chatml_turn(&b, "user", user);
    chatml_open(&b, "assistant");
    return strbuf_take(&b);
}
