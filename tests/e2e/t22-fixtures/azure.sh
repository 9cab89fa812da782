# Shared by tests/e2e/t22xx-azure-*.sh: the Resource Manager emulator
# (tests/emulators/arm) and spec trees for the azure backend pointed at it
# by authorityHost, resourceManagerEndpoint and caBundleFile alone, as a
# user would.
#
#	azure_emu_start [ARGS...]          the emulator in $TRASH/arm, resource group cvm-rg made
#	write_azure_provider FILE NAME [k=v...]  a Provider; k=v: rg= ca= cred= (a YAML line
#	                                   such as "clientSecretFile: F"), extra=
#	write_azure_cvm FILE NAME [k=v...] a CVM; vcpus= memoryGiB= state=
#	inv                                the emulator's inventory (JSON)
#	vm_of NAME JQ                      a jq expression on the VM of CVM NAME
#	count TYPE [TAG VALUE]             resources of a type (short: vm nic pip nsg disk vnet)
#	mutating_calls                     PUT/PATCH/POST/DELETE calls logged since the last clear

. "$SRCDIR/tests/emulators/arm/lib.sh"

AZ_RG=cvm-rg

azure_emu_start() {
	arm_start "$TRASH/arm" --subscription "$ARM_SUB" --resource-group "$ARM_SUB/$AZ_RG@westeurope" "$@" || return 1
	chmod 600 "$ARM_DIR/client-secret" "$ARM_DIR/client-both.pem" 2>/dev/null
	arm_ctl PUT config '{"pollsToDone":1,"retryAfter":0}' >/dev/null
}

write_azure_provider() {
	local file=$1 name=$2 kv rg=$AZ_RG ca=$ARM_CA cred="clientSecretFile: $ARM_DIR/client-secret" extra=
	shift 2
	for kv in "$@"; do
		case "$kv" in
		rg=*) rg=${kv#*=} ;;
		ca=*) ca=${kv#*=} ;;
		cred=*) cred=${kv#*=} ;;
		extra=*) extra=${kv#*=} ;;
		*) echo "write_azure_provider: unknown $kv" >&2; return 1 ;;
		esac
	done
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<-EOT
	apiVersion: cvmctl/v1
	kind: Provider
	metadata: {name: $name}
	spec:
	  type: azure
	  subscription: $ARM_SUB
	  resourceGroup: $rg
	  location: westeurope
	  tenant: $ARM_TENANT
	  clientId: $ARM_CLIENT_ID
	  $cred
	  authorityHost: $ARM_URL
	  resourceManagerEndpoint: $ARM_URL
	  imdsEndpoint: $ARM_IMDS
	  caBundleFile: $ca
	  connectTimeout: 5s
	  callTimeout: 10s
	  controlPlaneURL: cp.example.org:7018${extra:+
	  $extra}
	EOT
}

write_azure_cvm() {
	local file=$1 name=$2 kv vcpus=2 mem=8 state=active
	shift 2
	for kv in "$@"; do
		case "$kv" in
		vcpus=*) vcpus=${kv#*=} ;;
		memoryGiB=*) mem=${kv#*=} ;;
		state=*) state=${kv#*=} ;;
		*) echo "write_azure_cvm: unknown $kv" >&2; return 1 ;;
		esac
	done
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<-EOT
	apiVersion: cvmctl/v1
	kind: CVM
	metadata: {name: $name}
	spec:
	  flavor: azure
	  vcpus: $vcpus
	  memoryGiB: $mem
	  state: $state
	EOT
}

inv() {
	arm_ctl GET inventory
}

az_type() {
	case "$1" in
	vm) echo Microsoft.Compute/virtualMachines ;;
	nic) echo Microsoft.Network/networkInterfaces ;;
	pip) echo Microsoft.Network/publicIPAddresses ;;
	nsg) echo Microsoft.Network/networkSecurityGroups ;;
	disk) echo Microsoft.Compute/disks ;;
	vnet) echo Microsoft.Network/virtualNetworks ;;
	*) echo "$1" ;;
	esac
}

count() {
	arm_count "$(az_type "$1")" "${2:-}" "${3:-}"
}

vm_of() {
	inv | jq -r --arg n "$1" "[.resources[] | select(.type == \"Microsoft.Compute/virtualMachines\") |
		select(.tags[\"cvmctl-name\"] == \$n)][0] | $2"
}

# Resources of the per-CVM types without our tags (an OS disk counts as
# ours when it is named after one of our VMs).
untagged() {
	inv | jq -r '[.resources[] | select(.type != "Microsoft.Network/virtualNetworks") |
		select(.type != "Microsoft.Network/virtualNetworks/subnets") |
		select(.type != "Microsoft.Compute/disks") | select(.foreign | not) |
		select(.tags["managed-by"] != "cvmctl")] | length'
}

mutating_calls() {
	arm_ctl GET requests | jq -r '.requests[] | select(.method != "GET") |
		select(.path | ascii_downcase | startswith("/subscriptions/")) | "\(.method) \(.path)"'
}

record_field() {
	cvmctl list -o json |
	jq -r --arg n "$1" --arg f "$2" '
		[.[] | select(.name == $n)] as $all |
		(([$all[] | select(.status != "Inactive")] + $all) | .[0][$f]) // ""'
}

summary() {
	sed -n 's/^Reconciled scope \([^ ]*\) in [0-9.]*s: /\1: /p' "$1"
}

ctl() {
	arm_ctl "$@" >/dev/null
}
