#!/bin/bash
# The ARM emulator (tests/emulators/arm) against known-bad requests, each
# checked for its exact HTTP status and error code, then a happy path
# (vnet, subnet, NSG, public IP, NIC, confidential VM, and their deletes in
# reverse), the async operations advancing per poll and on the control
# clock, paging, case-insensitive ids, IMDS, faults and the process
# contract (ready file, SIGTERM). Everything is driven with curl, as a
# client that knows only the wire protocol.

. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/emulators/arm/lib.sh"

S=$ARM_SUB
RGP="subscriptions/$S/resourceGroups/rg"
NET="$RGP/providers/Microsoft.Network"
CMP="$RGP/providers/Microsoft.Compute"
NV=api-version=2024-10-01
CV=api-version=2024-11-01
RV=api-version=2021-04-01

# call TOKEN METHOD PATH [BODY [HEADER...]]: the answer's body in out.json,
# its headers in out.hdr, its status in $status.
call() {
	local tok=$1 method=$2 path=$3
	shift 3
	local body=
	if [ $# -ge 1 ]; then body=$1; shift; fi
	local hdr=() h
	for h in "$@"; do hdr+=(-H "$h"); done
	printf '%s' "$body" >req.json
	status=$(curl -sS -g --cacert "$ARM_CA" -X "$method" ${tok:+-H "Authorization: Bearer $tok"} \
		-H 'Content-Type: application/json' "${hdr[@]}" ${body:+--data-binary @req.json} \
		-D out.hdr -o out.json -w '%{http_code}' "$ARM_URL/$path")
}

# header NAME: a header of the last answer.
header() {
	tr -d '\r' <out.hdr | sed -n "s/^$1: //Ip" | tail -n 1
}

# expect STATUS CODE [TARGET]: the last answer's status and error code (and target).
expect() {
	local code
	code=$(jq -r 'if (.error | type) == "object" then .error.code else .error end // empty' out.json 2>/dev/null)
	if [ "$status" != "$1" ] || [ "$code" != "$2" ]; then
		echo "wanted $1 $2, got $status $code: $(cat out.json)"
		return 1
	fi
	if [ $# -ge 3 ] && [ "$(jq -r '.error.target // empty' out.json)" != "$3" ]; then
		echo "wanted target $3: $(cat out.json)"
		return 1
	fi
}

# put_ok PATH BODY: a PUT that must be accepted (201 or 200), then polled
# to Succeeded through its Azure-AsyncOperation URL.
put_ok() {
	call "$TOK" PUT "$1" "$2" || return 1
	case "$status" in 200|201) ;; *) echo "PUT $1: $status $(cat out.json)"; return 1 ;; esac
	wait_async "$(header Azure-AsyncOperation)"
}

# wait_async URL: poll an operation until it ends; its final body in op.json.
wait_async() {
	local url=$1 i
	for i in $(seq 1 30); do
		curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -o op.json "$url" || return 1
		case "$(jq -r .status op.json)" in
		Succeeded) return 0 ;;
		InProgress) ;;
		*) echo "operation ended $(cat op.json)"; return 1 ;;
		esac
	done
	echo "operation still running after 30 polls"
	return 1
}

# delete_ok PATH: a DELETE accepted (202) and polled to its end.
delete_ok() {
	call "$TOK" DELETE "$1" || return 1
	[ "$status" = 202 ] || { echo "DELETE $1: $status $(cat out.json)"; return 1; }
	wait_async "$(header Azure-AsyncOperation)"
}

VNET='{"location":"eastus","tags":{"cvmctl-provider":"lab"},"properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":[{"name":"default","properties":{"addressPrefix":"10.0.0.0/24"}}]}}'
NSG='{"location":"eastus","properties":{"securityRules":[{"name":"agent","properties":{"priority":1000,"direction":"Inbound","access":"Allow","protocol":"Tcp","sourceAddressPrefix":"*","sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"7001"}}]}}'
PIP='{"location":"eastus","tags":{"cvmctl-id":"c1"},"sku":{"name":"Standard","tier":"Regional"},"properties":{"publicIPAllocationMethod":"Static","publicIPAddressVersion":"IPv4"}}'
nic_body() { # SUBNET_ID PIP_ID NSG_ID
	jq -nc --arg s "$1" --arg p "$2" --arg n "$3" '{location:"eastus",tags:{"cvmctl-id":"c1"},properties:{
		ipConfigurations:[{name:"ipconfig1",properties:{subnet:{id:$s},privateIPAllocationMethod:"Dynamic",
		publicIPAddress:{id:$p}}}],networkSecurityGroup:{id:$n}}}'
}
SUBNET_ID="/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
PIP_ID="/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip"
NSG_ID="/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"
NIC_ID="/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic"
CD=$(printf '#cloud-config\n' | base64 -w0)
UD=$(printf 'certificates v1' | base64 -w0)
VM=$(jq -nc --arg nic "$NIC_ID" --arg cd "$CD" --arg ud "$UD" '{location:"eastus",tags:{"cvmctl-id":"c1"},properties:{
	hardwareProfile:{vmSize:"Standard_DC2as_v5"},
	securityProfile:{securityType:"ConfidentialVM",uefiSettings:{secureBootEnabled:true,vTpmEnabled:true}},
	storageProfile:{imageReference:{publisher:"Canonical",offer:"0001-com-ubuntu-confidential-vm-jammy",sku:"22_04-lts-cvm",version:"latest"},
		osDisk:{createOption:"FromImage",caching:"ReadWrite",deleteOption:"Delete",
			managedDisk:{storageAccountType:"Premium_LRS",securityProfile:{securityEncryptionType:"VMGuestStateOnly"}}}},
	osProfile:{computerName:"cvm-1",adminUsername:"azureuser",customData:$cd,
		linuxConfiguration:{disablePasswordAuthentication:true,ssh:{publicKeys:[{path:"/home/azureuser/.ssh/authorized_keys",
			keyData:"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host"}]}}},
	networkProfile:{networkInterfaces:[{id:$nic,properties:{primary:true,deleteOption:"Delete"}}]},
	userData:$ud}}')
# vm JQ: the VM body changed by a jq expression.
vm() { jq -c "$1" <<<"$VM"; }

test_expect_success 'the emulator starts on port 0 and writes both ready files' '
	arm_start "$TRASH/arm" --subscription "$S" &&
	test "$(stat -c %a "$ARM_DIR")" = 700 &&
	test "$ARM_PORT" -gt 0 && test "$ARM_IPORT" -gt 0 &&
	openssl x509 -in "$ARM_DIR/server.pem" -noout -ext subjectAltName | grep "IP Address:127.0.0.1" &&
	arm_ctl PUT config "{\"pollsToDone\":1}" >/dev/null
'

test_expect_success 'the OpenID configuration and instance discovery name the emulator' '
	curl -sS --fail --cacert "$ARM_CA" "$ARM_URL/$ARM_TENANT/v2.0/.well-known/openid-configuration" >oidc.json &&
	test "$(jq -r .token_endpoint oidc.json)" = "$ARM_URL/$ARM_TENANT/oauth2/v2.0/token" &&
	jq -e ".authorization_endpoint and .issuer and .jwks_uri" oidc.json &&
	curl -sS --fail --cacert "$ARM_CA" "$ARM_URL/common/discovery/instance?api-version=1.1&authorization_endpoint=x" >disco.json &&
	jq -e ".tenant_discovery_endpoint | endswith(\"/v2.0/.well-known/openid-configuration\")" disco.json
'

# token_call FIELD=VALUE...: a token request; the answer in out.json, $status.
token_call() {
	local args=() a
	for a in "$@"; do args+=(--data-urlencode "$a"); done
	status=$(curl -sS --cacert "$ARM_CA" "${args[@]}" -o out.json -w "%{http_code}" \
		"$ARM_URL/${TENANT:-$ARM_TENANT}/oauth2/v2.0/token?x-client-SKU=test")
}
SECRET_FORM() { echo "client_secret=$(cat "$ARM_DIR/client-secret")"; }
SCOPE=scope=https://management.azure.com/.default

test_expect_success 'token: a client secret gets a bearer token (unknown fields ignored)' '
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$(SECRET_FORM)" "$SCOPE" client_info=1 claims={} &&
	test "$status" = 200 &&
	test "$(jq -r .token_type out.json)" = Bearer &&
	test "$(jq -r .expires_in out.json)" = 3600 &&
	TOK=$(jq -r .access_token out.json) && test -n "$TOK"
'

# The identity platform errors: the status and the OAuth "error".
while IFS='|' read -r desc want_status want_error tenant form; do
	[ -n "$desc" ] || continue
	test_expect_success "token: $desc is $want_status $want_error" '
		eval "set -- $form" &&
		TENANT=$tenant token_call "$@" &&
		expect "$want_status" "$want_error" &&
		jq -e ".error_description | startswith(\"AADSTS\")" out.json &&
		jq -e ".error_codes | length == 1" out.json
	'
done <<EOF
a wrong secret|401|invalid_client|$ARM_TENANT|grant_type=client_credentials client_id=$ARM_CLIENT_ID client_secret=wrong $SCOPE
an unknown tenant|400|invalid_request|no-such-tenant|grant_type=client_credentials client_id=$ARM_CLIENT_ID client_secret=x $SCOPE
an unknown application|400|unauthorized_client|$ARM_TENANT|grant_type=client_credentials client_id=nobody client_secret=x $SCOPE
a scope without /.default|400|invalid_scope|$ARM_TENANT|grant_type=client_credentials client_id=$ARM_CLIENT_ID client_secret=x scope=https://management.azure.com/
a password grant|400|unsupported_grant_type|$ARM_TENANT|grant_type=password client_id=$ARM_CLIENT_ID $SCOPE
no credential|401|invalid_client|$ARM_TENANT|grant_type=client_credentials client_id=$ARM_CLIENT_ID $SCOPE
an assertion signed by another key|401|invalid_client|$ARM_TENANT|grant_type=client_credentials client_id=$ARM_CLIENT_ID client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer client_assertion=e30.e30.c2ln $SCOPE
EOF

# assertion KEY CERT [AUD]: an RS256 client assertion, as MSAL makes it.
assertion() {
	local b64url='openssl base64 -A | tr "+/" "-_" | tr -d "="' now h c
	now=$(date +%s)
	h=$(printf "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}" \
		"$(openssl x509 -in "$2" -outform der | openssl dgst -sha1 -binary | eval "$b64url")" | eval "$b64url")
	c=$(printf "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"j1\",\"nbf\":%d,\"exp\":%d}" \
		"${3:-$ARM_URL/$ARM_TENANT/oauth2/v2.0/token}" "$ARM_CLIENT_ID" "$ARM_CLIENT_ID" "$now" "$((now + 600))" | eval "$b64url")
	printf "%s.%s.%s" "$h" "$c" "$(printf "%s.%s" "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | eval "$b64url")"
}
ATYPE=client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer

test_expect_success 'token: a certificate assertion is checked against the configured certificate' '
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$ATYPE" \
		"client_assertion=$(assertion "$ARM_DIR/client.key" "$ARM_DIR/client.pem")" "$SCOPE" &&
	test "$status" = 200 &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rogue.key 2>/dev/null &&
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$ATYPE" \
		"client_assertion=$(assertion rogue.key "$ARM_DIR/client.pem")" "$SCOPE" &&
	expect 401 invalid_client &&
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$ATYPE" \
		"client_assertion=$(assertion "$ARM_DIR/client.key" "$ARM_DIR/client.pem" https://elsewhere/token)" "$SCOPE" &&
	expect 401 invalid_client
'

test_expect_success 'token: the federated token file is accepted as the assertion' '
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$ATYPE" \
		"client_assertion=$(cat "$ARM_DIR/federated-token")" "$SCOPE" &&
	test "$status" = 200 &&
	test -n "$(jq -r .access_token out.json)"
'

test_expect_success 'setup: the resource group' '
	call "$TOK" PUT "$RGP?$RV" "{\"location\":\"East US\"}" &&
	test "$status" = 201 &&
	test "$(jq -r .location out.json)" = eastus &&
	call "$TOK" PUT "$RGP?$RV" "{\"location\":\"eastus\",\"tags\":{\"a\":\"b\"}}" &&
	test "$status" = 200
'

# The known-bad requests: description | status | code | method | path | body | header.
# Bodies may name $VM-derived variables, expanded when the row runs.
BAD_SIZE=$(vm '.properties.hardwareProfile.vmSize="Standard_D2s_v5"')
NO_VTPM=$(vm '.properties.securityProfile.uefiSettings.vTpmEnabled=false')
NO_SB=$(vm 'del(.properties.securityProfile.uefiSettings.secureBootEnabled)')
NOT_CVM=$(vm '.properties.securityProfile.securityType="TrustedLaunch"')
NO_ENC=$(vm 'del(.properties.storageProfile.osDisk.managedDisk.securityProfile)')
GEN2=$(vm '.properties.storageProfile.imageReference.sku="22_04-lts-gen2"')
ADMIN=$(vm '.properties.osProfile.adminUsername="admin"')
NO_AUTH=$(vm '.properties.osProfile.linuxConfiguration={}')
NO_KEYS=$(vm '.properties.osProfile.linuxConfiguration.ssh.publicKeys=[]')
BAD_PATH=$(vm '.properties.osProfile.linuxConfiguration.ssh.publicKeys[0].path="/root/.ssh/authorized_keys"')
WEAK_PW=$(vm '.properties.osProfile.linuxConfiguration={disablePasswordAuthentication:false} | .properties.osProfile.adminPassword="password"')
# 65535 bytes are 87380 base64 characters, the limit; 65536 bytes are 87384.
BIG_CD=$(jq -c --arg x "$(head -c 65536 /dev/zero | base64 -w0)" '.properties.osProfile.customData=$x' <<<"$VM")
MAX_CD=$(jq -c --arg x "$(head -c 65535 /dev/zero | base64 -w0)" '.properties.osProfile.customData=$x' <<<"$VM")
NOT_B64=$(vm '.properties.userData="not base64!"')
UNKNOWN=$(vm '.properties.bogus=1')
UNKNOWN_DEEP=$(vm '.properties.storageProfile.osDisk.managedDisk.colour="blue"')
BAD_ENUM=$(vm '.properties.storageProfile.osDisk.caching="Sometimes"')
BAD_KNOWN=$(vm '.properties.securityProfile.securityType="Fancy"')
BAD_TYPE=$(vm '.properties.securityProfile.uefiSettings.vTpmEnabled="yes"')
NO_LOC=$(vm 'del(.location)')
NO_NIC=$(vm '.properties.networkProfile.networkInterfaces[0].id=(.properties.networkProfile.networkInterfaces[0].id+"-gone")')
NIC_BAD_SUBNET=$(nic_body "${SUBNET_ID%default}nope" "$PIP_ID" "$NSG_ID")
NIC_UNKNOWN=$(jq -c '.properties.colour="blue"' <<<"$(nic_body "$SUBNET_ID" "$PIP_ID" "$NSG_ID")")
NSG_BAD_PROTO=$(jq -c '.properties.securityRules[0].properties.protocol="Tcpx"' <<<"$NSG")
BAD_TAG='{"location":"eastus","tags":{"a/b":"c"}}'

while IFS='|' read -r desc want_status want_code method path rbody target hdr; do
	[ -n "$desc" ] || continue
	test_expect_success "bad request: $desc is $want_status $want_code" '
		eval "b=\"$rbody\"" &&
		if [ -n "$hdr" ]; then call "$TOK" "$method" "$path" "$b" "$hdr"; else call "$TOK" "$method" "$path" "$b"; fi &&
		if [ -n "$target" ]; then expect "$want_status" "$want_code" "$target"; else expect "$want_status" "$want_code"; fi
	'
done <<EOF
no api-version|400|MissingApiVersionParameter|GET|$CMP/virtualMachines/x||||
an unknown Compute api-version|400|NoRegisteredProviderFound|GET|$CMP/virtualMachines/x?api-version=2099-01-01||||
an unknown Network api-version|400|NoRegisteredProviderFound|GET|$NET/virtualNetworks/x?api-version=2016-13-01||||
an unknown resource-group api-version|400|InvalidApiVersionParameter|GET|$RGP?api-version=1999-01-01||||
a missing resource group|404|ResourceGroupNotFound|GET|subscriptions/$S/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines/x?$CV||||
a missing VM|404|ResourceNotFound|GET|$CMP/virtualMachines/nope?$CV||||
a subscription not served|404|SubscriptionNotFound|GET|subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg?$RV||||
a non-DCasv5 size|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$BAD_SIZE|hardwareProfile.vmSize|
ConfidentialVM without vTPM|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NO_VTPM|securityProfile.uefiSettings.vTpmEnabled|
ConfidentialVM without secure boot|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NO_SB|securityProfile.uefiSettings.secureBootEnabled|
a DCasv5 VM that is not ConfidentialVM|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NOT_CVM|securityProfile.securityType|
ConfidentialVM without an encryption type|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NO_ENC|storageProfile.osDisk.managedDisk.securityProfile.securityEncryptionType|
a non-cvm image|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$GEN2|storageProfile.imageReference|
a reserved admin user name|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$ADMIN|osProfile.adminUsername|
neither password nor key|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NO_AUTH|osProfile.adminPassword|
password auth disabled and no key|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NO_KEYS|osProfile.linuxConfiguration|
an SSH key path outside the admin home|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$BAD_PATH|osProfile.linuxConfiguration.ssh.publicKeys.path|
a weak password|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$WEAK_PW|osProfile.adminPassword|
customData over 87380 characters|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$BIG_CD|osProfile.customData|
customData of 87380 characters (then its missing NIC)|400|InvalidResourceReference|PUT|$CMP/virtualMachines/v?$CV|\$MAX_CD||
userData that is not base64|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$NOT_B64|userData|
an unknown VM field|400|InvalidRequestContent|PUT|$CMP/virtualMachines/v?$CV|\$UNKNOWN|properties.bogus|
an unknown nested field|400|InvalidRequestContent|PUT|$CMP/virtualMachines/v?$CV|\$UNKNOWN_DEEP|properties.storageProfile.osDisk.managedDisk.colour|
a bad enum value|400|InvalidRequestContent|PUT|$CMP/virtualMachines/v?$CV|\$BAD_ENUM|properties.storageProfile.osDisk.caching|
a bad securityType|400|InvalidParameter|PUT|$CMP/virtualMachines/v?$CV|\$BAD_KNOWN|securityProfile.securityType|
a string for a boolean|400|InvalidRequestContent|PUT|$CMP/virtualMachines/v?$CV|\$BAD_TYPE|properties.securityProfile.uefiSettings.vTpmEnabled|
no location|400|LocationRequired|PUT|$CMP/virtualMachines/v?$CV|\$NO_LOC||
a body that is not JSON|400|InvalidRequestContent|PUT|$CMP/virtualMachines/v?$CV|{nope||
an unknown NIC field|400|InvalidRequestFormat|PUT|$NET/networkInterfaces/n?$NV|\$NIC_UNKNOWN|properties.colour|
a bad security rule protocol|400|InvalidRequestFormat|PUT|$NET/networkSecurityGroups/n?$NV|\$NSG_BAD_PROTO|properties.securityRules[0].properties.protocol|
a tag name with a slash|400|InvalidTagNameCharacters|PUT|$NET/publicIPAddresses/p?$NV|\$BAD_TAG||
a NIC on a missing subnet|400|InvalidResourceReference|PUT|$NET/networkInterfaces/n?$NV|\$NIC_BAD_SUBNET||
a name with a bad character|400|InvalidResourceName|PUT|$NET/publicIPAddresses/p%21?$NV|\$PIP||
EOF

test_expect_success 'nothing was created by the bad requests' '
	arm_ctl GET inventory >inv.json &&
	test "$(jq ".resources | length" inv.json)" = 0
'

test_expect_success 'happy path: vnet (with subnet), NSG, public IP, NIC, each 201 then Succeeded' '
	put_ok "$NET/virtualNetworks/vnet?$NV" "$VNET" &&
	put_ok "$NET/networkSecurityGroups/nsg?$NV" "$NSG" &&
	put_ok "$NET/publicIPAddresses/pip?$NV" "$PIP" &&
	put_ok "$NET/networkInterfaces/nic?$NV" "$(nic_body "$SUBNET_ID" "$PIP_ID" "$NSG_ID")" &&
	call "$TOK" GET "$NET/networkInterfaces/nic?$NV" &&
	test "$(jq -r .properties.provisioningState out.json)" = Succeeded &&
	jq -e ".properties.ipConfigurations[0].properties.privateIPAddress | startswith(\"10.0.0.\")" out.json &&
	call "$TOK" GET "$NET/publicIPAddresses/pip?$NV" &&
	test "$(jq -r .properties.ipConfiguration.id out.json)" = "${NIC_ID/resourceGroups\/rg/resourceGroups/RG}/ipConfigurations/ipconfig1" &&
	jq -e ".properties.ipAddress | test(\"^[0-9.]+\$\")" out.json
'

test_expect_success 'a separate subnet PUT adds a second subnet to the vnet' '
	put_ok "$NET/virtualNetworks/vnet/subnets/second?$NV" "{\"properties\":{\"addressPrefix\":\"10.0.1.0/24\"}}" &&
	call "$TOK" GET "$NET/virtualNetworks/vnet?$NV" &&
	test "$(jq -r "[.properties.subnets[].name] | join(\",\")" out.json)" = default,second &&
	call "$TOK" GET "$NET/virtualNetworks/vnet/subnets?$NV" &&
	test "$(jq ".value | length" out.json)" = 2
'

test_expect_success 'ids come back with the resource group upper-cased; any casing finds them' '
	call "$TOK" GET "$NET/networkSecurityGroups/nsg?$NV" &&
	test "$(jq -r .id out.json)" = "/subscriptions/$S/resourceGroups/RG/providers/Microsoft.Network/networkSecurityGroups/nsg" &&
	call "$TOK" GET "SUBSCRIPTIONS/$S/RESOURCEGROUPS/Rg/PROVIDERS/microsoft.network/NETWORKSECURITYGROUPS/NSG?$NV" &&
	test "$status" = 200 &&
	call "$TOK" PUT "$NET/networkInterfaces/nic2?$NV" "$(nic_body "$(echo "$SUBNET_ID" | tr a-z A-Z)" "" "$NSG_ID" | jq -c "del(.properties.ipConfigurations[0].properties.publicIPAddress)")" &&
	test "$status" = 201
'

test_expect_success 'If-None-Match: * on an existing resource is 412 PreconditionFailed' '
	call "$TOK" PUT "$NET/publicIPAddresses/pip?$NV" "$PIP" "If-None-Match: *" &&
	expect 412 PreconditionFailed &&
	call "$TOK" PUT "$NET/publicIPAddresses/pip2?$NV" "$PIP" "If-None-Match: *" &&
	test "$status" = 201
'

test_expect_success 'If-Match: the current etag updates, another is 412, on a missing resource 412' '
	call "$TOK" GET "$NET/publicIPAddresses/pip2?$NV" &&
	E=$(jq -r .etag out.json) &&
	call "$TOK" PUT "$NET/publicIPAddresses/pip2?$NV" "$PIP" "If-Match: W/\"stale\"" && expect 412 PreconditionFailed &&
	call "$TOK" PUT "$NET/publicIPAddresses/pip2?$NV" "$PIP" "If-Match: $E" && test "$status" = 200 &&
	wait_async "$(header Azure-AsyncOperation)" &&
	test "$(jq -r .etag out.json)" != "$E" &&
	call "$TOK" PUT "$NET/publicIPAddresses/nope?$NV" "$PIP" "If-Match: *" && expect 412 PreconditionFailed
'

test_expect_success 'a VM on a missing NIC is 400 InvalidResourceReference' '
	call "$TOK" PUT "$CMP/virtualMachines/cvm?$CV" "$NO_NIC" &&
	expect 400 InvalidResourceReference
'

test_expect_success 'happy path: the confidential VM is 201 Creating, then Succeeded and running' '
	call "$TOK" PUT "$CMP/virtualMachines/cvm?$CV" "$VM" &&
	test "$status" = 201 &&
	test "$(jq -r .properties.provisioningState out.json)" = Creating &&
	test -n "$(header Azure-AsyncOperation)" && test -n "$(header Retry-After)" &&
	test "$(jq -r ".properties.osProfile.customData // \"absent\"" out.json)" = absent &&
	wait_async "$(header Azure-AsyncOperation)" &&
	call "$TOK" GET "$CMP/virtualMachines/cvm?$CV&\$expand=instanceView" &&
	test "$(jq -r .properties.provisioningState out.json)" = Succeeded &&
	test "$(jq -r "[.properties.instanceView.statuses[].code] | join(\",\")" out.json)" = ProvisioningState/succeeded,PowerState/running &&
	test "$(jq -r ".properties.userData // \"absent\"" out.json)" = absent &&
	test "$(jq -r .id out.json)" = "/subscriptions/$S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/cvm"
'

test_expect_success 'userData: GET with $expand=userData; PATCH replaces it' '
	call "$TOK" GET "$CMP/virtualMachines/cvm?$CV&\$expand=userData" &&
	test "$(jq -r .properties.userData out.json)" = "$UD" &&
	UD2=$(printf "certificates v2" | base64 -w0) &&
	call "$TOK" PATCH "$CMP/virtualMachines/cvm?$CV" "{\"properties\":{\"userData\":\"$UD2\"}}" &&
	test "$status" = 200 &&
	wait_async "$(header Azure-AsyncOperation)" &&
	call "$TOK" GET "$CMP/virtualMachines/cvm?$CV&\$expand=userData" &&
	test "$(jq -r .properties.userData out.json)" = "$UD2" &&
	test "$(arm_ctl GET inventory | jq -r ".resources[] | select(.name == \"cvm\") | .customData")" = "$CD"
'

test_expect_success 'IMDS answers userData for the chosen VM, only with Metadata: true' '
	ID=$(jq -r .id out.json) &&
	arm_ctl PUT imds "{\"id\":\"$ID\"}" >/dev/null &&
	U="$ARM_IMDS/metadata/instance/compute/userData?api-version=2021-01-01&format=text" &&
	test "$(curl -sS -o /dev/null -w "%{http_code}" "$U")" = 400 &&
	curl -sS "$U" | jq -e ".error | test(\"metadata header\")" &&
	test "$(curl -sS -H "Metadata: true" "$U")" = "$(printf "certificates v2" | base64 -w0)" &&
	test "$(curl -sS -o /dev/null -w "%{http_code}" -H "Metadata: true" "$ARM_IMDS/metadata/instance/compute/userData?format=text")" = 400 &&
	curl -sS -H "Metadata: true" "$ARM_IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" >mi.json &&
	test "$(jq -r .error mi.json)" = invalid_request
'

test_expect_success 'IMDS: with a system-assigned identity the VM gets a managed-identity token ARM accepts' '
	call "$TOK" PATCH "$CMP/virtualMachines/cvm?$CV" "{\"identity\":{\"type\":\"SystemAssigned\"}}" &&
	test "$status" = 200 && wait_async "$(header Azure-AsyncOperation)" &&
	call "$TOK" GET "$CMP/virtualMachines/cvm?$CV" &&
	test "$(jq -r .identity.tenantId out.json)" = "$ARM_TENANT" &&
	curl -sS -H "Metadata: true" "$ARM_IMDS/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/" >mi.json &&
	test "$(jq -r ".expires_in | type" mi.json)" = string &&
	call "$(jq -r .access_token mi.json)" GET "$RGP?$RV" && test "$status" = 200
'

test_expect_success 'deleting an attached NIC is 400 NicInUse, an attached public IP 400 PublicIPAddressCannotBeDeleted' '
	call "$TOK" DELETE "$NET/networkInterfaces/nic?$NV" &&
	expect 400 NicInUse &&
	call "$TOK" DELETE "$NET/publicIPAddresses/pip?$NV" &&
	expect 400 PublicIPAddressCannotBeDeleted &&
	call "$TOK" DELETE "$NET/networkSecurityGroups/nsg?$NV" &&
	expect 400 InUseNetworkSecurityGroupCannotBeDeleted &&
	call "$TOK" DELETE "$NET/virtualNetworks/vnet/subnets/default?$NV" &&
	expect 400 InUseSubnetCannotBeDeleted
'

test_expect_success 'the VM: deallocate, start and powerOff move the power state through async operations' '
	call "$TOK" POST "$CMP/virtualMachines/cvm/deallocate?$CV" &&
	test "$status" = 202 && test -n "$(header Location)" &&
	wait_async "$(header Azure-AsyncOperation)" &&
	call "$TOK" GET "$CMP/virtualMachines/cvm/instanceView?$CV" &&
	jq -e "[.statuses[].code] | index(\"PowerState/deallocated\")" out.json &&
	call "$TOK" POST "$CMP/virtualMachines/cvm/start?$CV" &&
	wait_async "$(header Azure-AsyncOperation)" &&
	test "$(arm_ctl GET inventory | jq -r ".resources[] | select(.name == \"cvm\") | .powerState")" = PowerState/running &&
	call "$TOK" POST "$CMP/virtualMachines/cvm/powerOff?$CV" && test "$status" = 202 &&
	OFF=$(header Azure-AsyncOperation) &&
	call "$TOK" POST "$CMP/virtualMachines/cvm/start?$CV" && expect 409 OperationNotAllowed &&
	wait_async "$OFF" &&
	test "$(arm_ctl GET inventory | jq -r ".resources[] | select(.name == \"cvm\") | .powerState")" = PowerState/stopped &&
	call "$TOK" POST "$CMP/virtualMachines/cvm/restart?$CV" && expect 409 OperationNotAllowed &&
	call "$TOK" POST "$CMP/virtualMachines/cvm/start?$CV" && wait_async "$(header Azure-AsyncOperation)"
'

test_expect_success 'happy path: delete in reverse; the VM takes its NIC (deleteOption Delete) and OS disk' '
	delete_ok "$CMP/virtualMachines/cvm?$CV" &&
	call "$TOK" GET "$CMP/virtualMachines/cvm?$CV" && expect 404 ResourceNotFound &&
	call "$TOK" GET "$NET/networkInterfaces/nic?$NV" && expect 404 ResourceNotFound &&
	test "$(arm_count Microsoft.Compute/disks)" = 0 &&
	delete_ok "$NET/networkInterfaces/nic2?$NV" &&
	delete_ok "$NET/publicIPAddresses/pip?$NV" &&
	delete_ok "$NET/publicIPAddresses/pip2?$NV" &&
	delete_ok "$NET/networkSecurityGroups/nsg?$NV" &&
	delete_ok "$NET/virtualNetworks/vnet/subnets/second?$NV" &&
	delete_ok "$NET/virtualNetworks/vnet?$NV" &&
	test "$(arm_ctl GET inventory | jq ".resources | length")" = 0 &&
	call "$TOK" DELETE "$NET/virtualNetworks/vnet?$NV" &&
	test "$status" = 204
'

test_expect_success 'deleteOption left at Detach keeps the auto-named OS disk, Unattached' '
	put_ok "$NET/virtualNetworks/vnet?$NV" "$VNET" &&
	put_ok "$NET/networkInterfaces/nic?$NV" "$(nic_body "$SUBNET_ID" "" "" | jq -c "del(.properties.networkSecurityGroup, .properties.ipConfigurations[0].properties.publicIPAddress)")" &&
	put_ok "$CMP/virtualMachines/keep?$CV" "$(vm "del(.properties.storageProfile.osDisk.deleteOption) | del(.properties.networkProfile.networkInterfaces[0].properties.deleteOption)")" &&
	call "$TOK" GET "$CMP/virtualMachines/keep?$CV" &&
	test "$(jq -r .properties.storageProfile.osDisk.deleteOption out.json)" = Detach &&
	DISK=$(jq -r .properties.storageProfile.osDisk.name out.json) &&
	expr "$DISK" : "keep_OsDisk_1_[0-9a-f]\{32\}\$" &&
	call "$TOK" DELETE "$CMP/disks/$DISK?api-version=2024-03-02" && expect 409 OperationNotAllowed &&
	delete_ok "$CMP/virtualMachines/keep?$CV" &&
	call "$TOK" GET "$CMP/disks/$DISK?api-version=2024-03-02" &&
	test "$status" = 200 &&
	test "$(jq -r .properties.diskState out.json)" = Unattached &&
	call "$TOK" GET "$NET/networkInterfaces/nic?$NV" &&
	test "$(jq -r ".properties.virtualMachine // \"none\"" out.json)" = none &&
	delete_ok "$CMP/disks/$DISK?api-version=2024-03-02"
'

test_expect_success 'async: the Nth poll ends an operation; GET of the resource also counts' '
	arm_ctl PUT config "{\"pollsToDone\":3}" >/dev/null &&
	call "$TOK" PUT "$NET/publicIPAddresses/slow?$NV" "$PIP" &&
	A=$(header Azure-AsyncOperation) &&
	case "$A" in "$ARM_URL/subscriptions/$S/providers/Microsoft.Network/locations/eastus/operations/"*"?$NV") ;; *) false ;; esac &&
	curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -D h1 "$A" | jq -e ".status == \"InProgress\"" &&
	grep -i "^retry-after: 1" h1 &&
	call "$TOK" GET "$NET/publicIPAddresses/slow?$NV" &&
	test "$(jq -r .properties.provisioningState out.json)" = Creating &&
	curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" "$A" | jq -e ".status == \"Succeeded\" and .endTime" &&
	call "$TOK" GET "$NET/publicIPAddresses/slow?$NV" &&
	test "$(jq -r .properties.provisioningState out.json)" = Succeeded
'

test_expect_success 'async: the same PUT again while it runs joins its operation; another is refused' '
	call "$TOK" PUT "$NET/publicIPAddresses/twice?$NV" "$PIP" && test "$status" = 201 &&
	A1=$(header Azure-AsyncOperation) &&
	call "$TOK" PUT "$NET/publicIPAddresses/twice?$NV" "$PIP" && test "$status" = 201 &&
	test "$(header Azure-AsyncOperation)" = "$A1" &&
	call "$TOK" PUT "$NET/publicIPAddresses/twice?$NV" "$(jq -c ".tags.x=\"y\"" <<<"$PIP")" &&
	expect 429 AnotherOperationInProgress &&
	test -n "$(header Retry-After)" &&
	wait_async "$A1" && delete_ok "$NET/publicIPAddresses/twice?$NV"
'

test_expect_success 'async: on the control clock, an operation ends when the clock has moved' '
	arm_ctl PUT config "{\"pollsToDone\":1000,\"clockToDone\":60}" >/dev/null &&
	call "$TOK" DELETE "$NET/publicIPAddresses/slow?$NV" &&
	A=$(header Azure-AsyncOperation) && L=$(header Location) &&
	curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" "$A" | jq -e ".status == \"InProgress\"" &&
	test "$(curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -o /dev/null -w "%{http_code}" "$L")" = 202 &&
	arm_ctl POST clock "{\"advance\":59}" >/dev/null &&
	curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" "$A" | jq -e ".status == \"InProgress\"" &&
	arm_ctl POST clock "{\"advance\":1}" >/dev/null &&
	curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" "$A" | jq -e ".status == \"Succeeded\"" &&
	test "$(curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -o /dev/null -w "%{http_code}" "$L")" = 204 &&
	call "$TOK" GET "$NET/publicIPAddresses/slow?$NV" && expect 404 ResourceNotFound &&
	arm_ctl PUT config "{\"pollsToDone\":1,\"clockToDone\":0}" >/dev/null
'

test_expect_success 'fault: an async operation ending Failed with AllocationFailed leaves the VM Failed' '
	arm_ctl POST faults "{\"method\":\"PUT\",\"path\":\"*/virtualMachines/doomed\",\"preset\":\"allocation-failed\"}" >/dev/null &&
	call "$TOK" PUT "$CMP/virtualMachines/doomed?$CV" "$(vm ".properties.osProfile.computerName=\"doomed\"")" &&
	test "$status" = 201 &&
	! wait_async "$(header Azure-AsyncOperation)" &&
	test "$(jq -r .status op.json)" = Failed && test "$(jq -r .error.code op.json)" = AllocationFailed &&
	call "$TOK" GET "$CMP/virtualMachines/doomed?$CV&\$expand=instanceView" &&
	test "$(jq -r .properties.provisioningState out.json)" = Failed &&
	jq -e "[.properties.instanceView.statuses[].code] | index(\"ProvisioningState/failed/AllocationFailed\")" out.json &&
	delete_ok "$CMP/virtualMachines/doomed?$CV"
'

test_expect_success 'fault: an expired async URL is 404; the resource still reaches Succeeded' '
	arm_ctl PUT config "{\"pollsToDone\":2}" >/dev/null &&
	arm_ctl POST faults "{\"path\":\"*/publicIPAddresses/lost\",\"preset\":\"expire-async\"}" >/dev/null &&
	call "$TOK" PUT "$NET/publicIPAddresses/lost?$NV" "$PIP" &&
	test "$(curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -o /dev/null -w "%{http_code}" "$(header Azure-AsyncOperation)")" = 404 &&
	call "$TOK" GET "$NET/publicIPAddresses/lost?$NV" &&
	test "$(jq -r .properties.provisioningState out.json)" = Creating &&
	call "$TOK" GET "$NET/publicIPAddresses/lost?$NV" &&
	test "$(jq -r .properties.provisioningState out.json)" = Succeeded &&
	arm_ctl PUT config "{\"pollsToDone\":1}" >/dev/null
'

test_expect_success 'fault: 429 with Retry-After and x-ms-ratelimit-remaining, N times, then through' '
	arm_ctl POST faults "{\"method\":\"GET\",\"path\":\"*/publicIPAddresses/lost\",\"preset\":\"throttle\",\"times\":2}" >/dev/null &&
	call "$TOK" GET "$NET/publicIPAddresses/lost?$NV" && expect 429 TooManyRequests &&
	test "$(header Retry-After)" = 5 &&
	test "$(header x-ms-ratelimit-remaining-subscription-reads)" = 0 &&
	call "$TOK" GET "$NET/publicIPAddresses/lost?$NV" && expect 429 TooManyRequests &&
	call "$TOK" GET "$NET/publicIPAddresses/lost?$NV" && test "$status" = 200
'

test_expect_success "fault: Compute's 409 OperationNotAllowed/TooManyRequests form, 500 and 503" '
	arm_ctl POST faults "{\"path\":\"*/virtualMachines/t\",\"preset\":\"compute-throttle\"}" >/dev/null &&
	call "$TOK" GET "$CMP/virtualMachines/t?$CV" && expect 409 OperationNotAllowed &&
	test "$(jq -r ".error.details[0].code" out.json)" = TooManyRequests &&
	test -n "$(header x-ms-ratelimit-remaining-resource)" &&
	arm_ctl POST faults "{\"path\":\"*/virtualMachines/t\",\"preset\":\"internal\"}" >/dev/null &&
	call "$TOK" GET "$CMP/virtualMachines/t?$CV" && expect 500 InternalServerError &&
	arm_ctl POST faults "{\"path\":\"*/virtualMachines/t\",\"preset\":\"unavailable\"}" >/dev/null &&
	call "$TOK" GET "$CMP/virtualMachines/t?$CV" && expect 503 ServiceUnavailable &&
	call "$TOK" GET "$CMP/virtualMachines/t?$CV" && expect 404 ResourceNotFound
'

test_expect_success 'fault: commit then drop the response: the client sees no answer, the PIP exists' '
	arm_ctl POST faults "{\"method\":\"PUT\",\"path\":\"*/publicIPAddresses/dropped\",\"preset\":\"drop\"}" >/dev/null &&
	test_must_fail curl -sS --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" -H "Content-Type: application/json" \
		-X PUT --data-binary "$PIP" "$ARM_URL/$NET/publicIPAddresses/dropped?$NV" &&
	test "$(arm_count Microsoft.Network/publicIPAddresses cvmctl-id c1)" = 2 &&
	arm_ctl GET requests | jq -e "[.requests[] | select(.dropped)] | length == 1"
'

test_expect_success 'paging: nextLink is the emulator own absolute URL with $skiptoken' '
	for i in 1 2 3; do put_ok "$NET/publicIPAddresses/page$i?$NV" "$PIP" || return 1; done &&
	arm_ctl PUT config "{\"pageSize\":2}" >/dev/null &&
	call "$TOK" GET "$NET/publicIPAddresses?$NV" &&
	test "$(jq ".value | length" out.json)" = 2 &&
	NEXT=$(jq -r .nextLink out.json) &&
	case "$NEXT" in "$ARM_URL/$NET/publicIPAddresses?$NV&\$skiptoken="*) ;; *) false ;; esac &&
	names=$(jq -r ".value[].name" out.json) &&
	while [ "$NEXT" != null ]; do
		curl -sS -g --cacert "$ARM_CA" -H "Authorization: Bearer $TOK" "$NEXT" >page.json &&
		names="$names $(jq -r ".value[].name" page.json)" &&
		NEXT=$(jq -r ".nextLink // \"null\"" page.json) || return 1
	done &&
	test "$(echo $names)" = "lost dropped page1 page2 page3" &&
	arm_ctl PUT config "{\"pageSize\":100}" >/dev/null
'

test_expect_success 'the generic resource list filters by tag' '
	call "$TOK" GET "$RGP/resources?$RV&\$filter=tagName%20eq%20%27cvmctl-id%27%20and%20tagValue%20eq%20%27c1%27" &&
	test "$(jq ".value | length" out.json)" = 5
'

test_expect_success 'config linkBase: nextLink and operation URLs name another host' '
	arm_ctl PUT config "{\"linkBase\":\"https://elsewhere.invalid:8443\",\"pageSize\":1}" >/dev/null &&
	call "$TOK" GET "$NET/publicIPAddresses?$NV" &&
	case "$(jq -r .nextLink out.json)" in "https://elsewhere.invalid:8443/$NET/publicIPAddresses?$NV&\$skiptoken=1") ;; *) false ;; esac &&
	call "$TOK" DELETE "$NET/publicIPAddresses/page3?$NV" &&
	A=$(header Azure-AsyncOperation) &&
	case "$A" in https://elsewhere.invalid:8443/subscriptions/*) ;; *) false ;; esac &&
	arm_ctl PUT config "{\"linkBase\":\"\",\"pageSize\":100}" >/dev/null &&
	wait_async "$ARM_URL${A#https://elsewhere.invalid:8443}"
'

test_expect_success 'control: a foreign VM, then deleted and deallocated behind the client back' '
	arm_ctl POST resources "{\"id\":\"/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/alien\",\"tags\":{\"owner\":\"someone\"}}" >/dev/null &&
	call "$TOK" PUT "$CMP/virtualMachines/alien?$CV" "$VM" "If-None-Match: *" && expect 412 PreconditionFailed &&
	arm_ctl GET inventory | jq -e ".resources[] | select(.name == \"alien\") | .foreign and .powerState == \"PowerState/running\"" &&
	arm_ctl POST vm "{\"id\":\"/subscriptions/$S/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/alien\",\"action\":\"deallocate\"}" >/dev/null &&
	call "$TOK" GET "$CMP/virtualMachines/alien/instanceView?$CV" &&
	jq -e "[.statuses[].code] | index(\"PowerState/deallocated\")" out.json &&
	arm_ctl POST vm "{\"id\":\"/subscriptions/$S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/alien\",\"action\":\"delete\"}" >/dev/null &&
	call "$TOK" GET "$CMP/virtualMachines/alien?$CV" && expect 404 ResourceNotFound
'

test_expect_success 'tokens: expired by the control endpoint, and by the control clock' '
	call "$TOK" GET "$RGP?$RV" && test "$status" = 200 &&
	arm_ctl POST tokens/expire >/dev/null &&
	call "$TOK" GET "$RGP?$RV" && expect 401 ExpiredAuthenticationToken &&
	header WWW-Authenticate | grep "error=\"invalid_token\"" &&
	TOK=$(arm_token) &&
	call "$TOK" GET "$RGP?$RV" && test "$status" = 200 &&
	arm_ctl POST clock "{\"advance\":3600}" >/dev/null &&
	call "$TOK" GET "$RGP?$RV" && expect 401 ExpiredAuthenticationToken &&
	call "not-a-token" GET "$RGP?$RV" && expect 401 InvalidAuthenticationToken &&
	call "" GET "$RGP?$RV" && expect 401 AuthenticationFailed &&
	arm_ctl PUT config "{\"tokenLifetime\":60}" >/dev/null &&
	token_call grant_type=client_credentials "client_id=$ARM_CLIENT_ID" "$(SECRET_FORM)" "$SCOPE" &&
	test "$(jq -r .expires_in out.json)" = 60 &&
	T60=$(jq -r .access_token out.json) &&
	call "$T60" GET "$RGP?$RV" && test "$status" = 200 &&
	arm_ctl POST clock "{\"advance\":60}" >/dev/null &&
	call "$T60" GET "$RGP?$RV" && expect 401 ExpiredAuthenticationToken &&
	arm_ctl PUT config "{\"tokenLifetime\":3600}" >/dev/null &&
	TOK=$(arm_token)
'

test_expect_success 'the request log: method, path, api-version, token state, status; no token values' '
	arm_ctl GET requests >log.json &&
	jq -e "[.requests[] | select(.token == \"expired\" and .status == 401)] | length == 3" log.json &&
	jq -e "[.requests[] | select(.token == \"none\")] | length >= 1" log.json &&
	jq -e ".requests[] | select(.method == \"PUT\" and (.path | endswith(\"/virtualMachines/cvm\"))) | .apiVersion == \"2024-11-01\"" log.json &&
	! grep -F "$TOK" log.json &&
	! grep -F "$(cat "$ARM_DIR/client-secret")" log.json "$ARM_DIR/emu.log" "$ARM_DIR/emu.out"
'

test_expect_success 'control: latency is configured and answers still come; reset forgets everything' '
	arm_ctl PUT config "{\"latencyMs\":20}" | jq -e ".latencyMs == 20" &&
	call "$TOK" GET "$RGP?$RV" && test "$status" = 200 &&
	arm_ctl PUT config "{\"latencyMs\":0}" >/dev/null &&
	test_must_fail arm_ctl PUT config "{\"nosuch\":1}" &&
	arm_ctl POST reset >/dev/null &&
	arm_ctl GET inventory | jq -e "(.resources | length) == 0 and (.resourceGroups | length) == 0" &&
	arm_ctl GET requests | jq -e ".requests == []" &&
	call "$TOK" GET "$RGP?$RV" && expect 404 ResourceGroupNotFound
'

test_expect_success 'SIGTERM: the emulator exits 0' '
	kill "$ARM_PID" && wait "$ARM_PID" && ARM_PID=
'

test_done
