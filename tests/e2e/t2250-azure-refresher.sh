#!/bin/bash
# The refresher that cloud-init installs on an Azure VM, taken byte for
# byte from the customData cvmctl sent, run against the emulator's IMDS
# (IMDS_ENDPOINT): it writes files equal to the store's certificate, key,
# CA and environment; after a rotation (a PATCH of the VM's userData) it
# writes the new ones. No key material in the refresher's output.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t22-fixtures/azure.sh"

test_expect_success 'an azure CVM, Running' '
	azure_emu_start &&
	write_azure_provider specs/providers.yaml az &&
	write_azure_cvm specs/r-1.yaml r-1 &&
	cvmctl reconcile -f specs --once >out &&
	grep "1 created" out &&
	ctl PUT imds "{\"id\":\"$(vm_of r-1 .id)\"}"
'

extract_refresher() {
	vm_of "$1" .customData | base64 -d >user-data &&
	python3 -c "
import sys, yaml
doc = yaml.safe_load(open(\"user-data\"))
f = [w for w in doc[\"write_files\"] if w[\"path\"] == \"/usr/local/sbin/cvmctl-refresh\"][0]
open(\"refresh.sh\", \"w\").write(f[\"content\"])
" && chmod +x refresh.sh
}

same_as_store() {
	rm -rf dl && cvmctl cert download "$1" --dir dl >/dev/null &&
	cmp dl/cert.pem "$2/etc/cocos/certs/cert.pem" &&
	cmp dl/key.pem "$2/etc/cocos/certs/key.pem" &&
	cmp dl/ca.pem "$2/etc/cocos/certs/ca.pem" &&
	grep "^AGENT_CVM_ID=$(record_field "$1" id)$" "$2/etc/cocos/environment" &&
	test "$(stat -c %a "$2/etc/cocos/certs/key.pem")" = 600 &&
	test "$(stat -c %a "$2/etc/cocos/certs/cert.pem")" = 644
}

refresh() {
	PATH=$TRASH/bin:$PATH IMDS_ENDPOINT=$ARM_IMDS CVMCTL_REFRESH_ROOT=$TRASH/root \
		CVMCTL_REFRESH_PASSES=1 ./refresh.sh
}

test_expect_success 'the rendered refresher, run against IMDS, writes the store s files' '
	extract_refresher r-1 &&
	grep "IMDS_ENDPOINT" refresh.sh &&
	mkdir -p bin root &&
	printf "#!/bin/sh\necho \"\$*\" >>\"$TRASH/systemctl.log\"\n" >bin/systemctl && chmod +x bin/systemctl &&
	refresh 2>refresh.err &&
	same_as_store r-1 root &&
	grep "restart cocos-agent.service" systemctl.log
'

test_expect_success 'a rotation updates the VM s userData; the refresher then writes the new files' '
	cp root/etc/cocos/certs/cert.pem old-cert.pem &&
	ctl DELETE requests &&
	cvmctl cert renew r-1 >renew.out &&
	mutating_calls >calls && cat calls &&
	grep "^PATCH .*/virtualMachines/r-1-[0-9a-f]*$" calls &&
	! grep -v "^PATCH" calls &&
	refresh 2>refresh2.err &&
	! cmp -s old-cert.pem root/etc/cocos/certs/cert.pem &&
	same_as_store r-1 root &&
	! grep -E "PRIVATE|BEGIN" refresh.err refresh2.err renew.out
'

test_done
