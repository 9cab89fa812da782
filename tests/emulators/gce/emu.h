/* gce-emu: a Compute Engine v1 + OAuth + guest-metadata emulator for tests.
 * Shared declarations of the emulator's parts (see README.md for the wire
 * behaviour). It shares no code with providers/: it is the other side of
 * the wire, and a bug copied into both would pass every test. */
#ifndef GCE_EMU_H
#define GCE_EMU_H

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/cleanup.h"



#define SELF_BASE "https://www.googleapis.com/compute/v1/"
#define GOOGLE_TOKEN_URL "https://oauth2.googleapis.com/token"
#define MAX_BODY (4u << 20)

/* ---- state (all of it under emu.lock) ---- */

struct sa_key {
	char *email;
	char *key_id;
	EVP_PKEY *pub;
};

struct token {
	char *value;
	char *email;
	long long expires_ms; /* wall clock (CLOCK_REALTIME) */
	struct token *next;
};

enum op_kind { OP_INSERT, OP_DELETE, OP_START, OP_STOP, OP_SETMETA, OP_SETLABELS, OP_FW_INSERT, OP_FW_DELETE, OP_FW_PATCH, OP_FW_UPDATE };

struct operation {
	char *name;
	char *project;
	char *zone; /* NULL for a global operation */
	enum op_kind kind;
	char *target; /* instance or firewall name */
	json_t *res;  /* the Operation as served */
	int polls, polls_needed;
	long long clock_start, latency_clock_ms;
	long long wall_start_ms, latency_wall_ms;
	json_t *fail; /* injected error.errors[] for DONE, or NULL */
	int fail_http;
	bool done;
	struct operation *next;
};

struct instance {
	char *project, *zone, *name;
	json_t *res; /* the Instance as served by GET */
	char *request_id; /* the requestId of the insert, or NULL */
	char *op_name;    /* the operation moving it, or NULL */
	bool foreign;     /* made through the control endpoint */
	unsigned meta_version;
	struct instance *next;
};

enum fault_kind { F_STATUS, F_RATE_LIMIT, F_DROP, F_OP_ERROR, F_LIST_PAGE };

struct fault {
	char method[16];
	char *pattern; /* fnmatch(3) over the path */
	int times;     /* < 0: forever */
	enum fault_kind kind;
	int status;
	json_t *body;
	int retry_after;
	int page;
	char *op_error_code;
	bool echo; /* put the request body into the error message */
	long hits;
	struct fault *next;
};

struct emu_config {
	int polls_to_done;
	long long op_latency_clock_ms;
	long long op_latency_ms; /* wall time, only when set explicitly */
	int token_lifetime_s;
	int rate_limit_per_s;
	int rate_limit_status;
	long long wait_max_ms;
	char nat_ip[64];
};

struct emu {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stopping;
	struct emu_config cfg;
	char **projects;
	size_t n_projects;
	struct sa_key *keys;
	size_t n_keys;
	char *sts_subject_token; /* NULL: any non-empty subject token */
	struct token *tokens;
	struct instance *instances;
	struct operation *ops;
	struct fault *faults;
	json_t *firewalls;  /* "project/name" -> Firewall */
	json_t *requests;   /* the request log */
	json_t *request_ids;/* requestId -> operation name */
	json_t *networks;   /* known network names */
	long long clock_ms; /* the control clock */
	long long seq;
	unsigned ip_next;
	long long rate_window;
	int rate_count;
	char *md_zone, *md_name; /* the instance the metadata server answers for */
	int md_waiters;          /* wait_for_change requests hanging now */
	int port, mport;
	FILE *log;
};

extern struct emu emu;

/* ---- http.c: one request and its answer ---- */

struct req {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len;
	bool overflow;
	bool metadata_port;
	/* the answer */
	int status;
	char *out;
	const char *ctype;
	char *hdr_name[4], *hdr_value[4];
	int n_hdr;
	bool drop;
	/* for the request log */
	const char *bearer; /* none, valid, expired, invalid, jwt */
	const char *fault;
	const char *request_id;
	char user[256]; /* the bearer's account, for Operation.user */
};

const char *req_arg(struct req *r, const char *name);
const char *req_header(struct req *r, const char *name);
void reply_json(struct req *r, int status, json_t *v); /* steals v */
void reply_text(struct req *r, int status, const char *ctype, const char *text);
void reply_header(struct req *r, const char *name, const char *value);
/* The Compute error body: {"error":{"code","message","errors":[{message,domain,reason}]}}
 * with "status" added when status_word is not NULL. */
void reply_error(struct req *r, int code, const char *domain, const char *reason,
		 const char *status_word, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
json_t *error_body(int code, const char *domain, const char *reason, const char *status_word,
		   const char *message);
int http_start(const char *cert_pem, const char *key_pem);
void http_stop(void);

/* ---- util ---- */
long long now_wall_ms(void);
long long now_mono_ms(void);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rfc3339(char *buf, size_t n, long long wall_ms);
void random_hex(char *buf, size_t nhex);
char *random_id(void); /* a uint64 as a decimal string */
int read_file(const char *path, char **out, size_t *len);
char *form_value(const char *body, const char *name); /* x-www-form-urlencoded */
bool zone_valid(const char *zone);
char *zone_region(const char *zone);
bool project_known(const char *p);

/* ---- oauth.c ---- */
int sa_load(const char *path);
void oauth_token(struct req *r);
void oauth_sts(struct req *r);
void oauth_metadata_token(struct req *r);
/* Checks the bearer; on failure answers 401 and returns false. */
bool oauth_check_bearer(struct req *r);
char *token_issue(const char *email);
void tokens_expire_all(void);

/* ---- schema.c / validate.c ---- */
int schema_load(void);
/* 0, or answers the real 400 for an unknown field, enum value or type. */
int schema_check(struct req *r, json_t *body, const char *message, const char *root);
int validate_instance(struct req *r, const char *project, const char *zone, json_t *body,
		      json_t **image_out);
int validate_metadata(struct req *r, json_t *md, const char *field);
int validate_labels(struct req *r, json_t *labels, const char *field);
bool name_valid(const char *name);
json_t *image_lookup(const char *ref, const char *default_project, char **canon_err);
json_t *machine_type_info(const char *zone, const char *type);
json_t *image_list(const char *project);
bool network_known(const char *ref, char **name_out);

/* ---- filter.c ---- */
json_t *filter_parse(const char *s); /* NULL: not a filter */
bool filter_match(json_t *e, json_t *res);

/* ---- ops.c ---- */
struct operation *op_new(const char *project, const char *zone, enum op_kind kind, const char *target,
			 const char *target_id, const char *request_id, const char *user);
struct operation *op_find(const char *project, const char *zone, const char *name);
void op_poll(struct operation *op);
void ops_tick(void);
void ops_handle(struct req *r, const char *project, const char *zone, const char *name, bool wait);
const char *op_kind_word(enum op_kind k);

/* ---- compute.c ---- */
void compute_route(struct req *r, char **seg, int n);
struct instance *instance_find(const char *project, const char *zone, const char *name);
struct instance *instance_add(const char *project, const char *zone, json_t *res);
void instance_remove(struct instance *in);
void instance_set_status(struct instance *in, const char *status);
void instance_fill_ips(struct instance *in);
void metadata_set_fingerprint(struct instance *in, json_t *md);
void op_finished(struct operation *op); /* the side effects of a DONE operation */
struct instance *instance_foreign(const char *project, const char *zone, json_t *spec, struct req *r);

/* ---- faults (control.c) ---- */
/* A matching fault's answer for this request, or NULL. For list pages the
 * page number is given (0: not a list). */
struct fault *fault_match(struct req *r, enum fault_kind kind, int page);
bool fault_apply(struct req *r, struct fault *f);
void control_route(struct req *r);
void log_request(struct req *r);

/* ---- metadata.c ---- */
void metadata_route(struct req *r);

#endif
