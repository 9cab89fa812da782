/* The start-up and shutdown both emulators share: the log, the TLS files,
 * the ready files and serving until SIGTERM or SIGINT. */
#ifndef EMU_SERVE_H
#define EMU_SERVE_H

#include <stdio.h>

/* The log PATH opened for appending, line-buffered, in *LOG; 0, or a
 * negative errno after saying so on stderr as PROG. */
int emu_open_log(const char *prog, const char *path, FILE **log);

struct emu_server {
	const char *prog; /* for messages: "gce-emu" */
	int (*start)(const char *cert_pem, const char *key_pem); /* says why on stderr when it fails */
	void (*stop)(void);
	const char *cert, *key; /* the PEM files of the HTTPS server's certificate and key */
	const char *ready;      /* the main port's ready file */
	const int *port;        /* set by start */
	const char *side_ready; /* the plain-HTTP port's ready file, or NULL */
	const int *side_port;
	const char *side_name;  /* in the log: "metadata", "IMDS" */
	FILE *log;              /* or NULL; closed at the end */
};

/* Reads S's certificate and key, starts its servers, writes each port and
 * a newline atomically to its ready file (the side one first: the main one
 * says both serve), and serves until SIGTERM or SIGINT. What main returns:
 * 0 when stopped by one, 2 when the TLS files cannot be read, 1 when it
 * cannot serve. */
int emu_serve(const struct emu_server *s);

#endif
