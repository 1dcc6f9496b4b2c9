/*
** web_page.h — the single-page web interface served at GET /, embedded in
** the binary so the server needs no files and no network at run time.
**
** The source is src/server/web/index.html (HTML, CSS and JavaScript in
** one file, no build step, no third-party code). scripts/embed_web.sh
** turns it into web_page.c, which is committed so that `make` needs
** nothing extra; tests/test_server.sh fails when the two disagree.
*/
#ifndef SA_SERVER_WEB_PAGE_H
#define SA_SERVER_WEB_PAGE_H

#include <stddef.h>

extern const char web_page_html[];
extern const size_t web_page_html_len;

#endif
