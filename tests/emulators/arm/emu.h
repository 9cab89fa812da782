/* arm-emu: an Azure Resource Manager + Microsoft identity platform + IMDS
 * emulator for tests. Shared declarations of its parts; README.md describes
 * the wire behaviour and the control endpoint. It shares no code with
 * providers/: it is the other side of the wire, and a bug copied into both
 * would pass every test. */
#ifndef ARM_EMU_H
#define ARM_EMU_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/cleanup.h"
#include "../common/emu_http.h"
#include "../common/emu_serve.h"
#include "../common/emu_util.h"



/* ---- state (all of it under emu.lock) ---- */

struct token {
	char *value;
	long long expires; /* emulator seconds (wall + control clock) */
	bool expired;      /* expired by the control endpoint */
	struct token *next;
};

struct rgroup {
	char *sub, *name; /* name as first created */
	json_t *obj;      /* as served */
	bool deleting;
	struct rgroup *next;
};

enum power { PW_NONE, PW_STARTING, PW_RUNNING, PW_STOPPING, PW_STOPPED, PW_DEALLOCATING, PW_DEALLOCATED };

struct res {
	char *key;        /* lower-case "sub/rg/namespace/type[/child]/name[/childname]" */
	char *sub, *rg;   /* as first sent */
	char *type;       /* canonical, e.g. "Microsoft.Network/virtualNetworks/subnets" */
	char *name;       /* "vnet" or "vnet/subnet" for a child */
	json_t *obj;      /* as served by GET (no instanceView, userData, customData) */
	char *user_data;  /* VMs: base64 as sent, or NULL */
	char *custom_data;
	enum power power;
	bool foreign;     /* made through the control endpoint */
	char *fail_code, *fail_message; /* the failed operation that left it Failed */
	unsigned addr;    /* the address it was given (public IP, NIC) */
	struct res *next;
};

enum op_kind { OP_PUT, OP_DELETE, OP_ACTION, OP_RG_DELETE };

struct op {
	char *id;
	enum op_kind kind;
	char *res_key;      /* the resource (or resource group "sub/rg") */
	char *ns;           /* "Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources" */
	char *sub, *location, *api_version;
	char *action;       /* start, deallocate, powerOff, restart */
	char *status;       /* InProgress, Succeeded, Failed, Canceled */
	char *fail_code, *fail_message; /* an injected failure, or NULL */
	int polls, polls_needed;
	long long clock_start;
	bool expired;       /* its URLs answer 404 (the client must poll the resource) */
	char start_time[40], end_time[40];
	json_t *body;       /* a PUT's request body: the same PUT again joins this operation */
	struct op *next;
};

enum fault_action { FA_STATUS, FA_DROP, FA_ASYNC_FAIL, FA_ASYNC_EXPIRE };

struct fault {
	char method[16];  /* "*" or a method */
	char *pattern;    /* fnmatch(3) over the path, case-insensitive */
	int times;        /* < 0: every time */
	enum fault_action action;
	int status;
	json_t *body;
	int retry_after;  /* < 0: no header */
	json_t *headers;  /* extra headers */
	char *code, *message; /* FA_ASYNC_FAIL */
	long hits;
	struct fault *next;
};

struct emu_config {
	int polls_to_done;       /* the Nth poll of an operation reports its end */
	long long clock_to_done; /* > 0: an operation also ends this many control-clock seconds after it began */
	int token_lifetime_s;
	int latency_ms;
	int retry_after;
	int page_size;
	char link_base[256]; /* "": emu.base; else the host nextLink and operation URLs name */
};

struct emu {
	pthread_mutex_t lock;
	struct emu_config cfg;
	int port, iport;
	char base[64];  /* "https://127.0.0.1:PORT" */
	char *tenant, *client_id, *client_secret;
	gnutls_pubkey_t client_pub; /* from --client-cert, or NULL */
	char client_x5t[64], client_x5t256[64];
	char *federated_token;
	char **subs;
	size_t n_subs;
	long long clock; /* the control clock, seconds added to wall time */
	unsigned long seq;
	struct token *tokens;
	struct rgroup *rgs;
	struct res *res;
	struct op *ops;
	struct fault *faults;
	json_t *requests;
	char *imds_key; /* the VM the IMDS answers for */
	json_t *schema;
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
	bool imds;
	/* the answer */
	int status;
	char *out;
	const char *ctype;
	json_t *hdrs; /* name -> value */
	bool drop;
	/* for the request log */
	const char *token; /* none, valid, expired, invalid */
	json_t *log_entry; /* this request's entry in the log (borrowed) */
	struct fault *async_fault; /* to apply to the operation this request starts */
};

const char *req_arg(struct req *r, const char *name);
const char *req_header(struct req *r, const char *name);
void reply_json(struct req *r, int status, json_t *v); /* steals v */
void reply_text(struct req *r, int status, const char *ctype, const char *text);
void reply_empty(struct req *r, int status);
void reply_header(struct req *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The ARM error body {"error":{"code","message"[,"target"]}}. */
json_t *arm_error(const char *code, const char *target, const char *message);
void reply_error(struct req *r, int status, const char *code, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int http_start(const char *cert_pem, const char *key_pem);
void http_stop(void);

/* ---- util.c ---- */
long long now_wall(void); /* seconds */
long long emu_now(void);  /* wall + control clock */
const char *link_base(void); /* what nextLink and operation URLs start with */
char *xstrdown(const char *s);
char *xstrup(const char *s);
void iso_time(char *buf, size_t n, long long t); /* 2024-05-01T10:11:12.0000000+00:00 */
void random_guid(char buf[37]);
char *form_value(const char *body, const char *name); /* x-www-form-urlencoded */
char *b64url_encode(const unsigned char *p, size_t n);
unsigned char *b64_decode(const char *s, size_t *n, bool url); /* NULL if not base64 */
bool streqi(const char *a, const char *b);

/* ---- auth.c ---- */
int auth_load(const char *secret_file, const char *cert_file, const char *federated_file);
bool auth_route(struct req *r); /* the identity platform's paths; false if not one */
char *token_issue(void);
/* Checks the bearer; on failure answers 401 and returns false. */
bool auth_check_bearer(struct req *r);
void tokens_expire_all(void);

/* ---- validate.c ---- */
int schema_load(void);
/* 0, or answers the real 400 for an unknown field, bad enum value or type. */
int schema_check(struct req *r, json_t *body, const char *model, const char *ns);
int validate_tags(struct req *r, json_t *tags);
int validate_name(struct req *r, const char *type, const char *name);
/* UPDATE: the VM exists (GET never returns its password, so a PUT back lacks it). */
int validate_vm(struct req *r, const char *name, json_t *body, bool update);
bool api_version_ok(const char *type, const char *v);
const char *api_versions_list(const char *type);

/* ---- resources.c ---- */
void arm_route(struct req *r);
char *res_id(const char *sub, const char *rg, const char *type, const char *name);
struct res *res_find(const char *key);
struct res *res_by_id(const char *id);
struct rgroup *rg_find(const char *sub, const char *rg);
struct res *res_add(const char *sub, const char *rg, const char *type, const char *name, json_t *obj);
void res_remove(struct res *x);
/* A VM's served object with what GET adds ($expand). */
json_t *vm_view(struct res *x, bool instance_view, bool user_data);
const char *power_code(enum power p);
void vm_delete_effects(struct res *vm); /* detach or delete its NICs and OS disk */
json_t *res_view(struct res *x);
void res_delete_now(struct res *x); /* with its cascades, no checks */
int id_parse(const char *id, char **sub, char **rg, const char **type, char **name);

/* ---- async.c ---- */
struct op *op_new(enum op_kind kind, const char *res_key, const char *ns, const char *sub, const char *location,
		  const char *api_version);
void op_headers(struct req *r, struct op *op, bool location);
/* A GET of the operation's resource: counts as a poll. */
void op_poll(struct op *op);
void ops_clock_tick(void);
bool async_route(struct req *r, const char *sub, char **seg, int nseg);
struct op *op_pending(const char *res_key); /* the operation in progress on it, or NULL */
void op_finish(struct op *op);
void op_cancel(struct op *op);
/* resources.c: what an operation's end does to its resource. */
void res_op_finished(struct op *op);

/* ---- faults (control.c) ---- */
/* The fault matching this request, consumed once; NULL if none. */
struct fault *fault_match(struct req *r);
void fault_reply(struct req *r, struct fault *f);
void control_route(struct req *r);
void log_request(struct req *r, const char *api_version);
json_t *inventory(void);

/* ---- imds.c ---- */
void imds_route(struct req *r);

#endif
