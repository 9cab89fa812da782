/* cvmctl: the command table and the global flags. Global flags are accepted
 * before or after the subcommand; everything else goes to the command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/defaults.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/process.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"

/* 24 days: the most whole days whose milliseconds fit an int. */
#define LOCK_TIMEOUT_MAX_S ((int64_t)24 * 86400)

/* What a command needs, so that nobody has to read its file to know
 * whether it may touch the state or the backends. */
enum {
	NEEDS_SPECS = 1 << 0,      /* reads a spec tree (-f) */
	NEEDS_STATE_READ = 1 << 1, /* reads the state; never creates one */
	NEEDS_STATE_WRITE = 1 << 2, /* takes the writer lock for what it changes */
	NEEDS_BACKENDS = 1 << 3,   /* talks to backends (some flags only) */
};

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned needs;
	const char *summary;
} commands[] = {
	{"validate", cmd_validate, NEEDS_SPECS, "load and check specs (offline)"},
	{"plan", cmd_plan, NEEDS_SPECS | NEEDS_STATE_READ | NEEDS_BACKENDS,
	 "show what a reconcile would do, and why (--out saves it)"},
	{"apply", cmd_apply, NEEDS_SPECS | NEEDS_STATE_WRITE | NEEDS_BACKENDS,
	 "carry out a saved plan exactly, or refuse a stale one"},
	{"reconcile", cmd_reconcile, NEEDS_SPECS | NEEDS_STATE_WRITE | NEEDS_BACKENDS,
	 "converge the world to the specs (--once or --watch)"},
	{"diff", cmd_diff, NEEDS_STATE_READ | NEEDS_BACKENDS,
	 "drift between the backends and the records (changes nothing)"},
	{"list", cmd_list, NEEDS_STATE_READ | NEEDS_BACKENDS, "list CVMs: NAME, ID, URL, BACKEND, STATUS"},
	{"status", cmd_status, NEEDS_STATE_READ, "the last pass, CVMs by status, and each CVM's conditions"},
	{"get", cmd_get, NEEDS_STATE_READ, "show one CVM: spec, state, certificates, history"},
	{"suspend", cmd_suspend, NEEDS_STATE_WRITE, "hold every action for a CVM (certificates still renewed)"},
	{"resume", cmd_resume, NEEDS_STATE_WRITE, "reconcile a suspended CVM again"},
	{"cert", cmd_cert, NEEDS_STATE_WRITE | NEEDS_BACKENDS,
	 "list, download, revoke, renew or issue a CVM's certificates"},
	{"ca", cmd_ca, NEEDS_STATE_WRITE, "init, download, crl or import the CA"},
	{"host", cmd_host, NEEDS_BACKENDS, "check a manager host for SEV-SNP (libvirt, QEMU, kernel, firmware)"},
};

static const char *needs_text(unsigned n, char *buf, size_t len) {
	const char *w[3];
	size_t k = 0;
	if (n & NEEDS_SPECS) w[k++] = "specs";
	if (n & (NEEDS_STATE_WRITE | NEEDS_STATE_READ)) w[k++] = n & NEEDS_STATE_WRITE ? "state" : "state (read)";
	if (n & NEEDS_BACKENDS) w[k++] = "backends";
	buf[0] = 0;
	for (size_t i = 0; i < k; i++) snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", w[i]);
	return buf;
}

static void usage(FILE *f) {
	fprintf(f, "usage: cvmctl [global flags] <command> [flags]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char needs[64];
		fprintf(f, "  %-10s %-62s [%s]\n", commands[i].name, commands[i].summary,
		        needs_text(commands[i].needs, needs, sizeof needs));
	}
	fprintf(f, "\nglobal flags (before or after the command):\n"
	           "  --state-dir DIR        state directory (default $XDG_STATE_HOME/cvmctl, /var/lib/cvmctl as root)\n"
	           "  --scope NAME           the scope a pass prunes (default \"default\")\n"
	           "  --log-format FMT       text (default) or json\n"
	           "  --lock-timeout DUR     how long to wait for the state lock (default 30s)\n"
	           "  --installation-id ID   adopt resources of this installation into a new state\n"
	           "  -v, --verbose          more logging (repeat for debug)\n"
	           "  -q, --quiet            errors only\n"
	           "each has an environment variable, which the flag overrides: CVMCTL_STATE_DIR, CVMCTL_SCOPE,\n"
	           "CVMCTL_LOG_FORMAT, CVMCTL_LOCK_TIMEOUT, CVMCTL_INSTALLATION_ID, CVMCTL_VERBOSE (0-2), CVMCTL_QUIET (1)\n"
	           "\nexit codes: 0 ok, 1 failed, 2 changes (plan --detailed-exitcode), 3 invalid input, 4 refused\n"
	           "See cvmctl(1).\n");
}

/* Takes a global flag's value from "--flag=value" or the next argument. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag) {
	size_t n = strlen(flag);
	if (argv[*i][n] == '=') return argv[*i] + n + 1;
	if (*i + 1 >= argc) return NULL;
	return argv[++*i];
}

static bool is_flag(const char *arg, const char *flag) {
	size_t n = strlen(flag);
	return strncmp(arg, flag, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

/* The value checks a global flag and its environment variable share;
 * `what` names the one given ("--lock-timeout", "CVMCTL_LOCK_TIMEOUT"). */
static int set_lock_timeout(const char *v, const char *what) {
	int64_t d;
	int pr = v ? parse_duration(v, &d) : -EINVAL;
	if (pr < 0 && pr != -ERANGE) return usage_error(NULL, "%s needs a duration such as 30s or 2m", what);
	/* The lock waits in milliseconds held in an int: a longer wait would
	 * wrap to a short one and give up early. */
	if (pr == -ERANGE || d > LOCK_TIMEOUT_MAX_S)
		return usage_error(NULL, "%s %s is longer than the maximum of 24d", what, v);
	G.lock_timeout_ms = (int)(d * 1000);
	return 0;
}

static int set_log_format(const char *v, const char *what, enum log_format *fmt) {
	if (!v) return usage_error(NULL, "%s needs text or json", what);
	if (strcmp(v, "text") == 0)
		*fmt = LOG_TEXT;
	else if (strcmp(v, "json") == 0)
		*fmt = LOG_JSON;
	else
		return usage_error(NULL, "%s must be text or json, not '%s'", what, v);
	return 0;
}

/* Which global flags the command line gave. */
typedef struct given {
	bool scope, log_format, lock_timeout, installation, level;
} given_t;

/* Every global flag has an environment variable, read for the flags the
 * command line did not give (a flag wins, and a variable it overrides is
 * not even checked): CVMCTL_STATE_DIR (read by state_dir()),
 * CVMCTL_SCOPE, CVMCTL_LOG_FORMAT, CVMCTL_LOCK_TIMEOUT,
 * CVMCTL_INSTALLATION_ID, CVMCTL_VERBOSE (0, 1, 2), CVMCTL_QUIET (1).
 * An empty one is unset; a bad one is a usage error naming it. */
static int read_environment(const given_t *g, enum log_level *level, enum log_format *fmt) {
	const char *v;
	int r;
	if (!g->scope && (v = getenv("CVMCTL_SCOPE")) && *v) {
		G.scope = v;
		G.scope_given = true;
	}
	if (!g->log_format && (v = getenv("CVMCTL_LOG_FORMAT")) && *v &&
	    (r = set_log_format(v, "CVMCTL_LOG_FORMAT", fmt)))
		return r;
	if (!g->lock_timeout && (v = getenv("CVMCTL_LOCK_TIMEOUT")) && *v &&
	    (r = set_lock_timeout(v, "CVMCTL_LOCK_TIMEOUT")))
		return r;
	if (!g->installation && (v = getenv("CVMCTL_INSTALLATION_ID")) && *v) {
		if (!uuid_valid(v)) return usage_error(NULL, "CVMCTL_INSTALLATION_ID needs a UUID (lower case)");
		G.installation = v;
	}
	if (g->level) return 0;
	if ((v = getenv("CVMCTL_VERBOSE")) && *v) {
		if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "2"))
			return usage_error(NULL, "CVMCTL_VERBOSE must be 0, 1 or 2, not '%s'", v);
		G.verbosity = v[0] - '0';
		if (G.verbosity) *level = LOG_DEBUG;
	}
	if ((v = getenv("CVMCTL_QUIET")) && *v) {
		if (strcmp(v, "0") && strcmp(v, "1")) return usage_error(NULL, "CVMCTL_QUIET must be 0 or 1, not '%s'", v);
		if (v[0] == '1') *level = LOG_ERROR;
	}
	return 0;
}

static int run(int argc, char **argv) {
	enum log_level level = LOG_INFO;
	enum log_format fmt = LOG_TEXT;
	/* G starts with its defaults (cli.c). */
	/* libvirt's error printer and SIGPIPE are the manager backend's
	 * business (manager_libvirt_init): the front knows no backend. */

	given_t given = {0};
	/* Pull out global flags wherever they are; keep the rest in order. */
	_cleanup_free_ char **rest = xcalloc((size_t)argc + 1, sizeof(char *));
	int nrest = 0;
	bool after_dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;
		if (after_dashdash || a[0] != '-') {
			rest[nrest++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			after_dashdash = true;
			rest[nrest++] = argv[i];
		} else if (is_flag(a, "--state-dir")) {
			if (!(v = flag_value(argc, argv, &i, "--state-dir")) || !*v)
				return usage_error(NULL, "--state-dir needs a directory");
			G.state_dir = v;
		} else if (is_flag(a, "--scope")) {
			if (!(v = flag_value(argc, argv, &i, "--scope")) || !*v)
				return usage_error(NULL, "--scope needs a name");
			G.scope = v;
			G.scope_given = true;
			given.scope = true;
		} else if (is_flag(a, "--installation-id")) {
			if (!(v = flag_value(argc, argv, &i, "--installation-id")) || !uuid_valid(v))
				return usage_error(NULL, "--installation-id needs a UUID (lower case)");
			G.installation = v;
			given.installation = true;
		} else if (is_flag(a, "--lock-timeout")) {
			given.lock_timeout = true;
			int r = set_lock_timeout(flag_value(argc, argv, &i, "--lock-timeout"), "--lock-timeout");
			if (r) return r;
		} else if (is_flag(a, "--log-format")) {
			given.log_format = true;
			int r = set_log_format(flag_value(argc, argv, &i, "--log-format"), "--log-format", &fmt);
			if (r) return r;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			given.level = true;
			G.verbosity++;
			level = LOG_DEBUG;
		} else if (strcmp(a, "-vv") == 0) {
			given.level = true;
			G.verbosity += 2;
			level = LOG_DEBUG;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			given.level = true;
			level = LOG_ERROR;
		} else if (nrest == 0 && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			usage(stdout);
			return EXIT_OK;
		} else if (nrest == 0 && strcmp(a, "--version") == 0) {
			printf("cvmctl %s\n", CVMCTL_VERSION);
			return EXIT_OK;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	int er = read_environment(&given, &level, &fmt);
	if (er) {
		log_setup(level, fmt);
		return er;
	}
	log_setup(level, fmt);

	if (nrest == 0 || rest[0][0] == '-') {
		usage(stderr);
		return EXIT_INVALID;
	}
	if (strcmp(rest[0], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(rest[0], commands[i].name) == 0) return commands[i].fn(nrest, rest);
	return usage_error(NULL, "'%s' is not a cvmctl command; see 'cvmctl --help'", rest[0]);
}

int main(int argc, char **argv) {
	process_harden();
	int code = run(argc, argv);
	return process_finish_stdout(code);
}
