/* Domain XML for a SEV-SNP CVM booted directly from kernel + initramfs with
 * their hashes measured into the launch digest (kernelHashes / the OVMF
 * AmdSev build), configuration delivered over two 9p shares as Cocos
 * images expect. Every string from outside is XML-escaped. */
#include "providers/manager/domain_xml.h"

#include <string.h>

#include "common/util.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/* SNP guest parameters: the C-bit position and reduced physical address
 * bits of EPYC Milan/Genoa hosts, and the default policy (bit 17 reserved
 * must be 1, bit 16 SMT allowed), as Cocos Manager uses them. */
#define SNP_CBITPOS 51
#define SNP_REDUCED_PHYS_BITS 1
#define SNP_POLICY_NATIVE "0x00030000"
#define SNP_POLICY_QEMU "0x30000"

manager_launch_form_t manager_launch_form(unsigned long libvirt_version, bool insecure) {
	if (insecure) return LAUNCH_INSECURE;
	return libvirt_version >= MANAGER_LIBVIRT_SNP_VERSION ? LAUNCH_SNP_NATIVE : LAUNCH_SNP_FALLBACK;
}

const char *manager_launch_form_name(manager_launch_form_t f) {
	switch (f) {
	case LAUNCH_SNP_NATIVE: return "sev-snp (launchSecurity)";
	case LAUNCH_SNP_FALLBACK: return "sev-snp (qemu:commandline)";
	default: return "insecure (no SEV)";
	}
}

static void elem(strbuf *sb, const char *indent, const char *tag, const char *val) {
	sb_addf(sb, "%s<%s>", indent, tag);
	sb_add_xml_escaped(sb, val);
	sb_addf(sb, "</%s>\n", tag);
}

static void filesystem(strbuf *sb, const char *dir, const char *tag, bool readonly) {
	sb_add(sb, "    <filesystem type='mount' accessmode='mapped'>\n");
	sb_add(sb, "      <driver type='path' iommu='on'/>\n");
	sb_add(sb, "      <source dir='");
	sb_add_xml_escaped(sb, dir);
	sb_add(sb, "'/>\n");
	sb_addf(sb, "      <target dir='%s'/>\n", tag);
	if (readonly) sb_add(sb, "      <readonly/>\n");
	sb_add(sb, "    </filesystem>\n");
}

/* One function on purpose, longer than our usual: it reads top to bottom in
 * the order of the document it writes, so a reviewer can hold it against the
 * golden files line by line. */
char *manager_domain_xml(const manager_domain_params *p) {
	strbuf sb = {0};
	sb_add(&sb, "<domain type='");
	sb_add_xml_escaped(&sb, p->domain_type ? p->domain_type : manager_default_str("domainType"));
	sb_add(&sb, "'");
	if (p->form == LAUNCH_SNP_FALLBACK) sb_add(&sb, " xmlns:qemu='" QEMU_NS "'");
	sb_add(&sb, ">\n");
	if (p->form == LAUNCH_INSECURE)
		sb_add(&sb, "  <!-- insecureNoSEV: this guest runs WITHOUT SEV-SNP: its memory is not encrypted"
		            " and it cannot be attested. Development hosts only. -->\n");
	elem(&sb, "  ", "name", p->name);
	elem(&sb, "  ", "uuid", p->id);

	manager_meta_t m = {
		.managed_by = (char *)MANAGER_MANAGED_BY,
		.id = (char *)p->id,
		.name = (char *)p->name,
		.scope = (char *)p->scope,
		.installation = (char *)p->installation,
		.spec_hash = (char *)p->spec_hash,
		.attempt = (char *)p->attempt,
		.share_root = (char *)p->share_root,
		.port = p->agent_port,
		.vcpus = p->vcpus,
		.memory_gib = p->memory_gib,
		.insecure_no_sev = p->form == LAUNCH_INSECURE,
	};
	sb_add(&sb, "  <metadata>\n");
	manager_meta_format(&sb, &m, true, "    ");
	sb_add(&sb, "  </metadata>\n");

	sb_addf(&sb, "  <memory unit='GiB'>%d</memory>\n", p->memory_gib);
	sb_addf(&sb, "  <vcpu placement='static'>%d</vcpu>\n", p->vcpus);
	/* memfd + shared: the 9p devices need guest memory QEMU can share. */
	sb_add(&sb, "  <memoryBacking>\n"
	            "    <source type='memfd'/>\n"
	            "    <access mode='shared'/>\n"
	            "  </memoryBacking>\n");

	sb_add(&sb, "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n");
	/* SNP runs OVMF as -bios (type='rom'): it does not use pflash NVRAM. */
	if (p->firmware) {
		sb_add(&sb, "    <loader readonly='yes' type='rom'>");
		sb_add_xml_escaped(&sb, p->firmware);
		sb_add(&sb, "</loader>\n");
	}
	if (p->kernel) elem(&sb, "    ", "kernel", p->kernel);
	if (p->initrd) elem(&sb, "    ", "initrd", p->initrd);
	elem(&sb, "    ", "cmdline", p->cmdline ? p->cmdline : manager_default_str("cmdline"));
	sb_add(&sb, "  </os>\n");
	/* SEV-ES and SNP guests cannot use SMM. */
	sb_add(&sb, "  <features>\n    <acpi/>\n    <apic/>\n    <smm state='off'/>\n  </features>\n");
	/* A named model fixes the vCPU signature that goes into the launch
	 * measurement. */
	sb_add(&sb, "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>");
	sb_add_xml_escaped(&sb, p->cpu_model ? p->cpu_model : manager_default_str("cpuModel"));
	sb_add(&sb, "</model>\n  </cpu>\n");
	sb_add(&sb, "  <on_poweroff>destroy</on_poweroff>\n"
	            "  <on_reboot>restart</on_reboot>\n"
	            "  <on_crash>destroy</on_crash>\n");

	sb_add(&sb, "  <devices>\n");
	/* virtio devices of an SEV guest must use the DMA API (iommu='on'). */
	sb_add(&sb, "    <interface type='network'>\n      <source network='");
	sb_add_xml_escaped(&sb, p->network ? p->network : manager_default_str("network"));
	sb_add(&sb, "'/>\n      <model type='virtio'/>\n      <driver iommu='on'/>\n    </interface>\n");
	filesystem(&sb, p->certs_dir, "certs_share", true);
	filesystem(&sb, p->env_dir, "env_share", false);
	/* The pty serves `virsh console`; the log keeps what the guest said
	 * before anyone attached (boot, the agent's start), per CVM, beside its
	 * shares but not in them: the guest cannot reach it. */
	sb_add(&sb, "    <serial type='pty'>\n");
	if (p->console_log) {
		sb_add(&sb, "      <log file='");
		sb_add_xml_escaped(&sb, p->console_log);
		sb_add(&sb, "' append='on'/>\n");
	}
	sb_add(&sb, "      <target port='0'/>\n    </serial>\n");
	sb_add(&sb, "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n");
	if (p->vtpm)
		sb_add(&sb, "    <tpm model='tpm-crb'>\n"
		            "      <backend type='emulator' version='2.0'/>\n"
		            "    </tpm>\n");
	sb_add(&sb, "    <memballoon model='none'/>\n");
	sb_add(&sb, "  </devices>\n");

	if (p->form == LAUNCH_SNP_NATIVE) {
		sb_add(&sb, "  <launchSecurity type='sev-snp' kernelHashes='yes'>\n");
		sb_addf(&sb, "    <cbitpos>%d</cbitpos>\n", SNP_CBITPOS);
		sb_addf(&sb, "    <reducedPhysBits>%d</reducedPhysBits>\n", SNP_REDUCED_PHYS_BITS);
		sb_add(&sb, "    <policy>" SNP_POLICY_NATIVE "</policy>\n");
		sb_add(&sb, "  </launchSecurity>\n");
	} else if (p->form == LAUNCH_SNP_FALLBACK) {
		/* No <launchSecurity> here: libvirt would add a second
		 * confidential-guest object. QEMU merges the second -machine. */
		sb_add(&sb, "  <qemu:commandline>\n");
		sb_add(&sb, "    <qemu:arg value='-object'/>\n");
		sb_addf(&sb,
		        "    <qemu:arg value='sev-snp-guest,id=sev0,cbitpos=%d,reduced-phys-bits=%d,policy=" SNP_POLICY_QEMU
		        ",kernel-hashes=on'/>\n",
		        SNP_CBITPOS, SNP_REDUCED_PHYS_BITS);
		sb_add(&sb, "    <qemu:arg value='-machine'/>\n");
		sb_add(&sb, "    <qemu:arg value='confidential-guest-support=sev0'/>\n");
		sb_add(&sb, "  </qemu:commandline>\n");
	}
	sb_add(&sb, "</domain>\n");
	return sb_take(&sb);
}
