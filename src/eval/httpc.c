/*
** httpc.c — see httpc.h.
*/
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/strbuf.h"

int httpc_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int httpc_request(int port, const char *method, const char *path, const char *json_body, char **body, int timeout_ms) {
    if (body) *body = NULL;
    long long deadline = clock_now_ns() / 1000000 + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    strbuf req;
    strbuf_init(&req);
    size_t blen = json_body ? strlen(json_body) : 0;
    strbuf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\nAccept: application/json\r\n", method, path, port);
    if (json_body) strbuf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    strbuf_puts(&req, "\r\n");
    if (json_body) strbuf_append(&req, json_body, blen);
    int status = -1;
    size_t off = 0;
    while (!req.oom && off < req.len) {
        ssize_t n = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
        if (n <= 0) { if (errno == EINTR) continue; goto out; }
        off += (size_t)n;
    }
    strbuf resp;
    strbuf_init(&resp);
    for (;;) {
        long long left = deadline - clock_now_ns() / 1000000;
        if (left <= 0) break;
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        if (poll(&pf, 1, (int)left) <= 0) break;
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        strbuf_append(&resp, buf, (size_t)n);
    }
    if (resp.p && sscanf(resp.p, "HTTP/1.%*d %d", &status) != 1) status = -1;
    if (body && resp.p) {
        char *sep = strstr(resp.p, "\r\n\r\n");
        if (sep) *body = strdup(sep + 4);
    }
    strbuf_free(&resp);
out:
    strbuf_free(&req);
    close(fd);
    return status;
}
