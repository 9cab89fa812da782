/* arm-emu: what the resource files (store.c, network.c, compute.c,
 * resources.c) share: the resource types served, the request context of
 * one resource call, and the helpers over the stored objects. */
#ifndef ARM_EMU_RES_H
#define ARM_EMU_RES_H

#include "emu.h"

struct rtype {
	const char *name;  /* canonical */
	const char *model; /* in the wire schema */
};

#define T_VNET "Microsoft.Network/virtualNetworks"
#define T_SUBNET "Microsoft.Network/virtualNetworks/subnets"
#define T_NSG "Microsoft.Network/networkSecurityGroups"
#define T_PIP "Microsoft.Network/publicIPAddresses"
#define T_NIC "Microsoft.Network/networkInterfaces"
#define T_VM "Microsoft.Compute/virtualMachines"
#define T_DISK "Microsoft.Compute/disks"

/* One call on one resource. */
struct ctx {
	struct req *r;
	const char *sub, *rg, *api;
	const struct rtype *t;
	char *name;   /* "vm" or "vnet/subnet" */
	char *key;
	char *ns;
	char *rid;    /* the id this resource has / would have */
};

/* ---- store.c ---- */
const struct rtype *type_lookup(const char *name);
bool res_is(const struct res *x, const char *type);
char *ns_of(const char *type);
char *make_key(const char *sub, const char *rg, const char *type, const char *name);
json_t *res_props(struct res *x); /* its "properties", made if missing */
const char *res_id_of(struct res *x);
const char *res_state(struct res *x); /* provisioningState */
void res_set_state(struct res *x, const char *s);
void new_etag(json_t *o);
void backref_del(struct res *x, const char *field, const char *id);
void backref_add(struct res *x, const char *field, const char *id);
const char *ref_id(json_t *o, const char *field); /* o[field].id */
const char *json_sget(json_t *o, const char *a, const char *b, const char *c);
char *norm_location(const char *l);
void keep_prop(json_t *o, struct res *old, const char *field);
void resource_guid(json_t *o, struct res *old);
void ctx_free(struct ctx *c);
void not_found(struct ctx *c);
int invalid_ref(struct ctx *c, const char *ref);
/* A reference a new resource makes: it must exist, be of TYPE and have
 * finished provisioning; else the 400 is answered and *err set. */
struct res *need_ref(struct ctx *c, const char *ref, const char *type, int *err);
json_t *res_served(struct ctx *c, json_t *body, const char *location);

/* ---- network.c ---- */
void nic_unlink(struct res *nic);
void nic_link(struct res *nic);
int build_vnet(struct ctx *c, json_t *body, struct res *old, json_t *o, json_t **subnets_out);
json_t *subnet_served(struct ctx *vc, const char *sname, json_t *sbody, struct res *old);
void vnet_store_subnets(struct ctx *c, json_t *subs);
int build_nsg(struct ctx *c, json_t *o, struct res *old);
int build_pip(struct ctx *c, json_t *o, struct res *old);
int build_nic(struct ctx *c, json_t *o, struct res *old);

/* ---- compute.c ---- */
json_t *instance_view(struct res *x);
struct res *make_os_disk(struct ctx *c, json_t *vmo, const char *location);
int build_vm(struct ctx *c, json_t *o, struct res *old, const char *location, char **user_data, char **custom_data);
void vm_link(struct res *vm, json_t *old_nics);

#endif
