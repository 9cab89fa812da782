/* The cloud backends' HTTPS layer over libcurl's multi interface: see
 * http.h for what it promises. */
#include "providers/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/util.h"

#define BODY_MAX (32u << 20) /* a list page is far below this; a runaway server is not */
#define RETRY_AFTER_CAP_MS (10 * 60 * 1000)

struct http_client {
	CURLM *multi;
	STACK_OF(X509) *extra_ca; /* from ca_file; NULL: the system store alone */
	int connect_timeout_ms, timeout_ms;
};

struct http_req {
	http_client_t *c;
	CURL *easy;
	struct curl_slist *headers;
	char *method, *url;
	strbuf body;
	bool too_big;
	char *retry_after;
	char *async_op, *location; /* Azure-AsyncOperation, Location (ARM long-running operations) */
	long status;
	bool done;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	char *transport_err;
};

static void global_init(void) {
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void ca_stack_free(STACK_OF(X509) *s) {
	if (s) sk_X509_pop_free(s, X509_free);
}

static int load_ca(const char *path, STACK_OF(X509) **out, char **err) {
	_cleanup_free_ char *pem = NULL;
	size_t len = 0;
	int r = read_file(path, &pem, &len);
	if (r < 0) {
		*err = xasprintf("cannot read caBundleFile %s: %s", path, strerror(-r));
		return r;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *s = sk_X509_new_null();
	X509 *x;
	while (bio && s && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) sk_X509_push(s, x);
	BIO_free(bio);
	if (!s || sk_X509_num(s) == 0) {
		ca_stack_free(s);
		*err = xasprintf("caBundleFile %s holds no PEM certificate", path);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

int http_client_new(const http_opts_t *o, http_client_t **out, char **err) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	*out = NULL;
	http_client_t *c = xcalloc(1, sizeof *c);
	c->connect_timeout_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	c->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 60000;
	if (o && o->ca_file) {
		int r = load_ca(o->ca_file, &c->extra_ca, err);
		if (r < 0) {
			free(c);
			return r;
		}
	}
	c->multi = curl_multi_init();
	if (!c->multi) {
		ca_stack_free(c->extra_ca);
		free(c);
		*err = xstrdup("cannot initialise libcurl");
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void http_client_free(http_client_t *c) {
	if (!c) return;
	curl_multi_cleanup(c->multi);
	ca_stack_free(c->extra_ca);
	free(c);
}

/* Adds the extra CAs to the store OpenSSL already filled with the system's
 * (curl loads its default bundle before calling this): trust grows, and
 * verification is never turned off. */
static CURLcode add_extra_ca(CURL *easy, void *sslctx, void *arg) {
	(void)easy;
	STACK_OF(X509) *s = arg;
	X509_STORE *st = SSL_CTX_get_cert_store(sslctx);
	for (int i = 0; st && i < sk_X509_num(s); i++) X509_STORE_add_cert(st, sk_X509_value(s, i));
	return CURLE_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
	http_req_t *r = arg;
	size_t len = size * n;
	if (r->body.len + len > BODY_MAX) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	sb_addn(&r->body, data, len);
	return len;
}

/* A header's value when data is "name: value\r\n", else NULL. */
static char *header_value(const char *data, size_t len, const char *name) {
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(data, name, nl) != 0) return NULL;
	const char *v = data + nl;
	const char *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t')) v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
	return xasprintf("%.*s", (int)(end - v), v);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
	http_req_t *r = arg;
	size_t len = size * n;
	char *v;
	if ((v = header_value(data, len, "retry-after:"))) {
		free(r->retry_after);
		r->retry_after = v;
	} else if ((v = header_value(data, len, "azure-asyncoperation:"))) {
		free(r->async_op);
		r->async_op = v;
	} else if ((v = header_value(data, len, "location:"))) {
		free(r->location);
		r->location = v;
	}
	return len;
}

http_req_t *http_submit(http_client_t *c, const char *method, const char *url, const char *const *headers,
                        const void *body, size_t len) {
	http_req_t *r = xcalloc(1, sizeof *r);
	r->c = c;
	r->method = xstrdup(method);
	r->url = xstrdup(url);
	r->easy = curl_easy_init();
	if (!r->easy) {
		r->done = true;
		r->transport_err = xstrdup("cannot initialise a libcurl request");
		return r;
	}
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->extra_ca) {
		/* A cached store would be shared with other handles: each gets
		 * its own, filled by add_extra_ca. */
		curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, add_extra_ca);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c->extra_ca);
	}
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* never send a token elsewhere */
	/* Plain http is the metadata server (or a loopback emulator): a proxy
	 * from the environment must not see its tokens, as Google's libraries
	 * never send it one. */
	if (strncmp(url, "http://", 7) == 0) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cvmctl");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	for (size_t i = 0; headers && headers[i]; i++) r->headers = curl_slist_append(r->headers, headers[i]);
	/* libcurl would add "Expect: 100-continue" to larger bodies: a round
	 * trip for nothing. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
			curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? (const char *)body : "");
		}
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		r->done = true;
		r->transport_err = xstrdup("cannot queue a libcurl request");
	}
	return r;
}

static void collect(http_client_t *c) {
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE) continue;
		http_req_t *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (!r) continue;
		r->result = m->data.result;
		r->done = true;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->result != CURLE_OK) {
			r->status = 0;
			r->transport_err = r->too_big ? xasprintf("the response was larger than %u bytes", BODY_MAX)
			                              : xstrdup(r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
		}
		curl_multi_remove_handle(c->multi, r->easy);
	}
}

bool http_drive(http_client_t *c, http_req_t *r, int wait_ms) {
	int running = 0;
	if (r && r->done) return true;
	curl_multi_perform(c->multi, &running);
	collect(c);
	if (r && !r->done && wait_ms > 0) {
		curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
		curl_multi_perform(c->multi, &running);
		collect(c);
	}
	return r ? r->done : running == 0;
}

void http_wait(http_client_t *c, http_req_t *r) {
	/* Each turn waits for the network; curl's own timeouts end the loop. */
	while (!http_drive(c, r, 100)) {
	}
}

void http_req_free(http_req_t *r) {
	if (!r) return;
	if (r->easy) {
		if (!r->done) curl_multi_remove_handle(r->c->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	free(r->method);
	free(r->url);
	sb_free(&r->body);
	free(r->retry_after);
	free(r->async_op);
	free(r->location);
	free(r->transport_err);
	free(r);
}

long http_status(const http_req_t *r) { return r->done ? r->status : 0; }

const char *http_body(const http_req_t *r, size_t *len) {
	if (len) *len = r->body.len;
	return r->body.buf ? r->body.buf : "";
}

const char *http_transport_error(const http_req_t *r) {
	if (!r->done) return "the request has not finished";
	return r->transport_err;
}

const char *http_async_operation(const http_req_t *r) { return r->done ? r->async_op : NULL; }

const char *http_location(const http_req_t *r) { return r->done ? r->location : NULL; }

int http_retry_after_ms(const http_req_t *r) {
	return r->retry_after ? http_parse_retry_after(r->retry_after, (int64_t)time(NULL), RETRY_AFTER_CAP_MS) : -1;
}

const char *http_method(const http_req_t *r) { return r->method; }
const char *http_url(const http_req_t *r) { return r->url; }

/* ---- retries ---- */

int http_parse_retry_after(const char *v, int64_t now_s, int cap_ms) {
	if (!v || !*v) return -1;
	int64_t ms;
	if (isdigit((unsigned char)*v)) {
		char *end;
		errno = 0;
		long long s = strtoll(v, &end, 10);
		while (*end == ' ') end++;
		if (errno || *end) return -1;
		ms = s > (int64_t)cap_ms / 1000 + 1 ? cap_ms : s * 1000;
	} else {
		time_t t = curl_getdate(v, NULL);
		if (t == (time_t)-1) return -1;
		ms = t <= now_s ? 0 : ((int64_t)t - now_s) * 1000;
	}
	return ms > cap_ms ? cap_ms : (int)ms;
}

int http_backoff_ms(int n, int base_ms, int cap_ms, uint64_t *rng) {
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int i = 0; i < n && d < cap_ms; i++) d *= 2;
	if (d > cap_ms) d = cap_ms;
	uint64_t x = *rng ? *rng : 0x9E3779B97F4A7C15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	return (int)(d / 2 + (int64_t)((x * 0x2545F4914F6CDD1DULL) % (uint64_t)(d / 2 + 1)));
}

bool http_status_retryable(long s) {
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* ---- scrubbing ---- */

#define REDACTED "[redacted]"

/* Replaces every occurrence of needle in *s. */
static void replace_all(char **s, const char *needle, const char *with) {
	size_t nl = strlen(needle);
	if (nl == 0 || !strstr(*s, needle)) return;
	strbuf sb = {0};
	const char *p = *s, *q;
	while ((q = strstr(p, needle))) {
		sb_addn(&sb, p, (size_t)(q - p));
		sb_add(&sb, with);
		p = q + nl;
	}
	sb_add(&sb, p);
	free(*s);
	*s = sb_take(&sb);
}

/* PEM blocks, from "-----BEGIN" to the dashes closing "-----END ...". */
static void scrub_pem(char **s) {
	strbuf sb = {0};
	const char *p = *s, *b;
	bool any = false;
	while ((b = strstr(p, "-----BEGIN"))) {
		any = true;
		sb_addn(&sb, p, (size_t)(b - p));
		sb_add(&sb, "[redacted PEM]");
		const char *e = strstr(b, "-----END");
		if (!e) {
			p = b + strlen(b);
			break;
		}
		const char *close = strstr(e + 8, "-----");
		p = close ? close + 5 : e + strlen(e);
	}
	if (!any) return;
	sb_add(&sb, p);
	free(*s);
	*s = sb_take(&sb);
}

static bool tokenish(char c) {
	return isalnum((unsigned char)c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.' ||
	       c == '~' || c == '%';
}

/* After a secret-looking name ("Bearer", "assertion=", "\"access_token\":"),
 * the value that follows. */
static const char *const secret_names[] = {
	"bearer ",       "assertion",     "access_token", "accesstoken", "subject_token", "id_token",
	"refresh_token", "private_key",   "client_secret", "signature",  "token",          "password",
	"secret",        "authorization", "key",           "value",      NULL,
};

static void scrub_named(char **s) {
	strbuf sb = {0};
	const char *p = *s;
	while (*p) {
		const char *hit = NULL;
		size_t hl = 0;
		for (size_t i = 0; secret_names[i]; i++) {
			size_t n = strlen(secret_names[i]);
			if (strncasecmp(p, secret_names[i], n) == 0) {
				hit = secret_names[i];
				hl = n;
				break;
			}
		}
		if (!hit || (p > *s && isalnum((unsigned char)p[-1]) && hit[0] != 'b')) {
			sb_addn(&sb, p, 1);
			p++;
			continue;
		}
		/* name, then optional quote, then = or : (JSON) or nothing
		 * (Bearer), then an optional quote, then the value. */
		const char *v = p + hl;
		if (*v == '"' || *v == '\'') v++;
		while (*v == ' ') v++;
		bool sep = *v == '=' || *v == ':';
		if (sep) v++;
		while (*v == ' ') v++;
		if (!sep && hit[0] != 'b') {
			sb_addn(&sb, p, 1);
			p++;
			continue;
		}
		char quote = 0;
		if (*v == '"' || *v == '\'') quote = *v++;
		const char *e = v;
		if (quote)
			while (*e && *e != quote) e += (*e == '\\' && e[1]) ? 2 : 1;
		else
			while (*e && tokenish(*e)) e++;
		sb_addn(&sb, p, (size_t)(v - p));
		if (e > v) sb_add(&sb, REDACTED);
		p = e;
	}
	free(*s);
	*s = sb_take(&sb);
}

/* Long runs of base64/base64url characters with mixed case and digits:
 * tokens, JWTs, keys, certificates, delivered files. Paths, names, UUIDs and
 * operation names are lowercase and survive. */
static void scrub_runs(char **s) {
	strbuf sb = {0};
	const char *p = *s;
	while (*p) {
		if (!tokenish(*p)) {
			sb_addn(&sb, p, 1);
			p++;
			continue;
		}
		const char *e = p;
		bool up = false, low = false, dig = false;
		while (*e && (tokenish(*e) || (*e == '\\' && e[1] == 'n'))) {
			if (*e == '\\') {
				e += 2;
				continue;
			}
			up |= isupper((unsigned char)*e) != 0;
			low |= islower((unsigned char)*e) != 0;
			dig |= isdigit((unsigned char)*e) != 0;
			e++;
		}
		if (e - p >= 24 && up && low && dig)
			sb_add(&sb, REDACTED);
		else
			sb_addn(&sb, p, (size_t)(e - p));
		p = e;
	}
	free(*s);
	*s = sb_take(&sb);
}

char *http_scrub(const char *text, size_t len, const char *const *secrets, size_t max_len) {
	char *s = xasprintf("%.*s", (int)(len > 1u << 20 ? 1u << 20 : len), text ? text : "");
	for (size_t i = 0; secrets && secrets[i]; i++)
		if (strlen(secrets[i]) >= 4) replace_all(&s, secrets[i], REDACTED);
	scrub_pem(&s);
	scrub_named(&s);
	scrub_runs(&s);
	/* One line: control characters would let a body fake log lines. */
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20) *c = ' ';
	if (max_len > 4 && strlen(s) > max_len) strcpy(s + max_len - 3, "...");
	return s;
}

char *http_escape(const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	strbuf sb = {0};
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			sb_addn(&sb, (const char *)s, 1);
		} else {
			char b[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_addn(&sb, b, 3);
		}
	}
	return sb_take(&sb);
}

char *http_error_sentence(const char *provider, const char *what, const http_req_t *r, const char *url,
                          const char *code, const char *const *secrets) {
	_cleanup_free_ char *head =
	    xasprintf("provider %s: %s%s%s %s", provider, what ? what : "", what ? ": " : "", http_method(r), url);
	long st = http_status(r);
	if (!st) {
		const char *t = http_transport_error(r);
		_cleanup_free_ char *ts = http_scrub(t, strlen(t), secrets, 300);
		return xasprintf("%s: %s", head, ts);
	}
	size_t len;
	const char *text = http_body(r, &len);
	_cleanup_(json_decrefp) json_t *j = json_loadb(text, len, 0, NULL);
	const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	_cleanup_free_ char *m = msg ? http_scrub(msg, strlen(msg), secrets, 400) : http_scrub(text, len, secrets, 200);
	return xasprintf("%s: %ld%s%s%s%s", head, st, *code ? " " : "", code, *m ? ": " : "", m);
}
