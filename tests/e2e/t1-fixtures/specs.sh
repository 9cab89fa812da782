# tests/e2e/t1-fixtures/specs.sh: spec writers shared by the t1xxx scripts
# (issue 2: validate, lifecycle, drift, hosts, safety). Source after lib.sh.
#
#	write_provider FILE NAME [capacity-memoryGiB] URI...
#	                               a manager Provider over the given hosts
#	write_cvm FILE NAME [KEY=VALUE...]
#	                               one CVM (vcpus=2 memoryGiB=4 by default;
#	                               state=inactive, vcpus=N, memoryGiB=N,
#	                               provider=NAME)
#	virsh_names URI                the domains of a host, sorted, one a line
#	record_field NAME FIELD        FIELD of NAME in `cvmctl list -o json`
#	                               (the first record with that name and,
#	                               if there are several, the active one)

write_provider() {
	manager_provider_yaml "$@"
}

# The body of write_provider, under a name that scripts sourcing this file
# for their own write_provider (t30xx) can still call.
manager_provider_yaml() {
	local file=$1 name=$2 mem=$3 uri
	shift 3
	mkdir -p "$(dirname "$file")"
	{
		cat <<-EOF
		apiVersion: cvmctl/v1
		kind: Provider
		metadata: {name: $name}
		spec:
		  type: manager
		  hosts:
		EOF
		for uri in "$@"; do
			printf '    - %s\n' "$uri"
		done
		cat <<-EOF
		  firmware: /usr/share/ovmf/OVMF.amdsev.fd
		  kernel: /srv/cvm-guest/bzImage
		  initrd: /srv/cvm-guest/rootfs.cpio.gz
		  network: default
		  capacity: {vcpus: 64, memoryGiB: $mem}
		  shareDir: $TRASH/shares
		EOF
	} >"$file"
}

write_cvm() {
	local file=$1 name=$2 kv vcpus=2 mem=4 state=active provider=
	shift 2
	for kv in "$@"; do
		case "$kv" in
		vcpus=*) vcpus=${kv#*=} ;;
		memoryGiB=*) mem=${kv#*=} ;;
		state=*) state=${kv#*=} ;;
		provider=*) provider=${kv#*=} ;;
		*) echo "write_cvm: unknown $kv" >&2; return 1 ;;
		esac
	done
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<-EOF
	apiVersion: cvmctl/v1
	kind: CVM
	metadata: {name: $name}
	spec:
	  flavor: manager${provider:+
	  provider: $provider}
	  vcpus: $vcpus
	  memoryGiB: $mem
	  state: $state
	EOF
}

virsh_names() {
	virsh -q -c "$1" list --all --name | sed '/^$/d' | sort
}

# The record of NAME that is not Inactive, else the newest one.
record_field() {
	cvmctl list -o json |
	jq -r --arg n "$1" --arg f "$2" '
		[.[] | select(.name == $n)] as $all |
		(([$all[] | select(.status != "Inactive")] + $all) | .[0][$f]) // ""'
}
