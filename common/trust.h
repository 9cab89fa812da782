/* Trusting what the state directory holds (the CA key, every CVM's key, the
 * database): only what the user running cvmctl owns, and only when nobody
 * else may write it. Another user's file or directory is refused, naming
 * the path and its owner; one of ours that is too open (our own mode
 * loosened by hand, a copy made with the wrong umask) is tightened, with
 * one warning. Root is no exception: root refuses a directory owned by
 * another user, who could have replaced the CA in it. */
#ifndef CVM_TRUST_H
#define CVM_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The descriptor's file (fstat: the object opened, not what the path
 * names by now) is owned by geteuid(); mode bits beyond `allowed` (0700 for
 * a directory, 0600 for a key) are removed by fchmod, with a warning. On
 * refusal returns -EPERM with *err a sentence naming path and owner. */
int trust_fd(int fd, const char *path, mode_t allowed, char **err);

/* The same for a directory by path. follow=false: a symlink is refused
 * (O_NOFOLLOW); the state directory itself may be a symlink the operator
 * made. A missing directory is -ENOENT with no message; a path that is not
 * a directory is -ENOTDIR with a message. */
int trust_dir(const char *path, bool follow, char **err);

/* Reads a secret (a private key) through one descriptor: O_NOFOLLOW (a
 * symlink to someone else's file is not followed), a regular file checked
 * with trust_fd(0600) on that descriptor, read into one buffer of its size
 * (no copies left behind by growing). Free with free_secret. */
int read_secret_file(const char *path, char **out, size_t *len, char **err);

/* Wipes a NUL-terminated secret (OPENSSL_cleanse: not optimised away) and
 * frees it. NULL is fine. */
void free_secret(char *s);
/* The same for n bytes. */
void free_secret_n(void *p, size_t n);

#endif
