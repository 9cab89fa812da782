/* The libmicrohttpd glue both emulators use: a daemon on a free port of
 * 127.0.0.1 (HTTPS or plain HTTP), request bodies gathered in pieces, and
 * an answer queued on its connection. What a request means stays in each
 * emulator's http.c. */
#ifndef EMU_HTTP_H
#define EMU_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* A daemon with one thread per connection (a hanging or delayed request
 * holds up only its own client) on a free port of 127.0.0.1, put in *PORT;
 * TLS with the PEM certificate and key when CERT_PEM is not NULL. NULL
 * when it cannot listen. */
struct MHD_Daemon *emu_http_listen(const char *cert_pem, const char *key_pem, MHD_AccessHandlerCallback handler,
				   void *cls, MHD_RequestCompletedCallback completed, int *port);

/* Appends the N bytes at CHUNK to *BODY (kept NUL-terminated); past
 * MAX_BODY in all it keeps nothing more and sets *OVERFLOW. 0, or -ENOMEM. */
int emu_body_append(char **body, size_t *len, bool *overflow, const char *chunk, size_t n);

/* A response holding a copy of BODY (NULL: empty) with Content-Type CTYPE
 * (NULL: none); NULL when libmicrohttpd cannot make one. */
struct MHD_Response *emu_http_response(const char *body, const char *ctype);

/* Queues RESP (which it frees; NULL gives MHD_NO) with STATUS on CONN. */
enum MHD_Result emu_http_queue(struct MHD_Connection *conn, int status, struct MHD_Response *resp);

#endif
