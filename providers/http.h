/* The HTTPS layer of the cloud backends (gcp, azure): libcurl's multi
 * interface, one client (multi handle) per provider, so that every request
 * of a pass shares its connections, and requests are submitted without
 * waiting and driven by polls, which is what prov_call_t's operations need:
 * create() submits and returns an operation, poll() drives the transfers a
 * few milliseconds at a time.
 *
 * Always: TLS peer and host verification (an extra CA bundle is added to the
 * system's trust store, never instead of verification), connect and total
 * timeouts, a cap on response sizes. Bodies of error responses are kept for
 * messages, and http_scrub() takes anything that looks like a secret out of
 * them before they are shown: an emulator or a proxy may echo request
 * values (tokens, assertions, metadata) back in its errors.
 *
 * A client is used by one thread at a time (providers/provider.h). */
#ifndef CVM_PROVIDERS_HTTP_H
#define CVM_PROVIDERS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_client http_client_t;
typedef struct http_req http_req_t;

typedef struct http_opts {
	const char *ca_file;    /* PEM bundle added to the system store; NULL: none */
	int connect_timeout_ms; /* 0: 10 s */
	int timeout_ms;         /* whole request; 0: 60 s */
} http_opts_t;

/* -EINVAL with *err when the CA bundle cannot be read or holds no
 * certificate. */
int http_client_new(const http_opts_t *o, http_client_t **out, char **err);
void http_client_free(http_client_t *c);

/* Starts a request; nothing is waited for. headers: "Name: value" strings,
 * NULL-terminated (may be NULL). body (len bytes, copied) may be NULL. */
http_req_t *http_submit(http_client_t *c, const char *method, const char *url, const char *const *headers,
                        const void *body, size_t len);
/* Drives every transfer of c, waiting at most wait_ms for the network;
 * returns whether r has finished (a response, or a transport error). */
bool http_drive(http_client_t *c, http_req_t *r, int wait_ms);
/* Drives until r has finished; bounded by r's timeouts. */
void http_wait(http_client_t *c, http_req_t *r);
/* Aborts r if it is still running. NULL is fine. */
void http_req_free(http_req_t *r);

/* Once finished: the HTTP status (0: no response), the body (NUL-terminated),
 * curl's sentence when no response came (else NULL), and Retry-After in
 * milliseconds (-1: none or unreadable). */
long http_status(const http_req_t *r);
const char *http_body(const http_req_t *r, size_t *len);
const char *http_transport_error(const http_req_t *r);
int http_retry_after_ms(const http_req_t *r);
/* Once finished: the Azure-AsyncOperation and Location headers of the
 * answer (ARM long-running operations), or NULL. */
const char *http_async_operation(const http_req_t *r);
const char *http_location(const http_req_t *r);
/* The request's method and URL, for messages. */
const char *http_method(const http_req_t *r);
const char *http_url(const http_req_t *r);

/* A Retry-After value (delta-seconds or an HTTP-date) in milliseconds from
 * now_s, capped at cap_ms; -1 when unreadable. */
int http_parse_retry_after(const char *v, int64_t now_s, int cap_ms);

/* The n-th wait (n from 0) of a jittered exponential backoff: base * 2^n up
 * to cap, then a random 50..100 % of it. rng: xorshift state, never 0. */
int http_backoff_ms(int n, int base_ms, int cap_ms, uint64_t *rng);

/* Whether a status says "try again later": 408, 429, 500, 502, 503, 504. */
bool http_status_retryable(long status);

/* A copy of text (len bytes) that is safe to show: every occurrence of each
 * secret (NULL-terminated list, may be NULL) is replaced, as are PEM blocks,
 * JWTs, "Bearer ..." values, form and JSON values of secret-looking names,
 * and any long run of base64-looking characters (a token, a key, a
 * certificate, a delivered file); the result is cut to max_len bytes. */
char *http_scrub(const char *text, size_t len, const char *const *secrets, size_t max_len);

/* The sentence for a failed request, as both clouds word it: "provider P:
 * WHAT: METHOD URL: STATUS CODE: message", the message taken from the
 * answer's error.message (else the body) and scrubbed of `secrets`; a
 * transport failure instead of the status. `url` is the URL to show (the
 * caller cuts page tokens); `code` the cloud's error code or reason ("" for
 * none). */
char *http_error_sentence(const char *provider, const char *what, const http_req_t *r, const char *url,
                          const char *code, const char *const *secrets);

/* Percent-encodes s for a query value or a form field (RFC 3986
 * unreserved characters stay). Caller frees. */
char *http_escape(const char *s);

#endif
