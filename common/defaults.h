/* The CVM defaults, written once. The spec loader fills them into every
 * spec; code that reads a recorded canonical spec (the daemon's certificate
 * timer, the cert commands, delivery) falls back to the same numbers for a
 * record that lacks a field. A backend's own defaults live in its schema
 * table (providers/NAME/schema.c), the engine's limits in reconciler/sched.h. */
#ifndef CVM_COMMON_DEFAULTS_H
#define CVM_COMMON_DEFAULTS_H

/* cvmctl's version: --version, and the saved plans it writes. */
#define CVMCTL_VERSION "0.1.0"

#define CVM_DEFAULT_SCOPE "default"
#define CVM_DEFAULT_AGENT_PORT 7002
#define CVM_DEFAULT_CERT_VALIDITY_S (30 * 86400LL)  /* certificates.validity: 30d */
#define CVM_DEFAULT_RENEW_BEFORE_S (10 * 86400LL)   /* certificates.renewBefore: 10d */

#endif
