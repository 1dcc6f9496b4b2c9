/*
** httpc.h — a minimal blocking HTTP/1.1 client for loopback benchmarks:
** one request per connection (Connection: close), whole response read.
*/
#ifndef SA_HTTPC_H
#define SA_HTTPC_H

#include <stddef.h>

/* Sends METHOD PATH with an optional JSON body to 127.0.0.1:port. Returns
** the HTTP status (or -1 when the connection failed); *body (optional)
** receives the malloc'd response body. timeout_ms bounds the whole call. */
int httpc_request(int port, const char *method, const char *path, const char *json_body, char **body, int timeout_ms);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int httpc_free_port(void);

#endif
