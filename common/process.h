/* What the process does for itself before any command runs and after the
 * last one: no core dumps (a crashed pass must not leave the CA key in a
 * file in the current directory), standard descriptors that a database or a
 * key cannot be opened onto, and standard output checked as git checks it. */
#ifndef CVM_PROCESS_H
#define CVM_PROCESS_H

/* Core dumps off (RLIMIT_CORE 0, not dumpable: no core file, no ptrace
 * attach by the same user), and any of fds 0-2 that is closed reopened on a
 * harmless file. Never fails: what cannot be done is logged at debug. */
void process_harden(void);

/* Flushes and closes standard output. A write that failed (a full disk,
 * a closed descriptor) is one error line and EXIT_FAILED unless `code` is
 * already worse; a pipe or socket whose reader went away is quiet, as in
 * git (the reader chose to stop). Returns the exit code to use. */
int process_finish_stdout(int code);

#endif
