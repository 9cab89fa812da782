#!/bin/bash
# Crash safety, end to end. The test build of cvmctl kills itself with
# SIGKILL at named crash points (after the intent commit, after define, after
# start, before the status commit), and the script SIGKILLs it at random
# moments, while it creates CVMs across two hosts and while it deletes them.
# Each time the script first shows that the world is partial, then reruns,
# and checks that
#   - the owned domains across both hosts are exactly one running domain per
#     desired CVM (no duplicate names, nothing else of ours left),
#   - each domain's UUID is its record's id,
#   - no record is left Creating or Deleting (or Failed),
#   - the next pass does nothing.
# The same holds when the state directory is lost before the rerun and the
# new state is given the old installation id (adoption); without it, a new
# state takes nothing over.
#
# Needs the sanitizer/test build (crash points exist only there) and jq.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"

N=12
ALL=$(seq -f 'cvm-%02g' 1 $N)
KEEP="cvm-01 cvm-02 cvm-03" # what a deleting pass keeps; the rest goes
# shellcheck disable=SC2086 # word lists
REMOVED=$(printf '%s\n' $ALL | grep -vxF "$(printf '%s\n' $KEEP)")

# ---- helpers ---------------------------------------------------------------

ST= # the state directory of the current scenario

cv() {
	cvmctl --state-dir "$ST" "$@"
}

# A pass over the spec tree in ./specs; extra flags after.
rec() {
	cv reconcile -f specs --once --concurrency 2 "$@"
}

write_provider() {
	mkdir -p specs &&
	cat >specs/providers.yaml <<-EOF
	apiVersion: cvmctl/v1
	kind: Provider
	metadata: {name: lab}
	spec:
	  type: manager
	  hosts:
	    - $URI_a
	    - $URI_b
	  firmware: /usr/share/ovmf/OVMF.amdsev.fd
	  kernel: /srv/cvm-guest/bzImage
	  initrd: /srv/cvm-guest/rootfs.cpio.gz
	  network: default
	  capacity: {vcpus: 64, memoryGiB: 256}
	  shareDir: $TRASH/shares
	  # The engine's own rate limit spreads a pass's submissions over half a
	  # second or more (8 at once, then 8 a second), so that a random SIGKILL
	  # has a middle of the pass to land in: an unthrottled pass of 12
	  # creates is over in a few milliseconds.
	  requestsPerSecond: 8
	EOF
}

# want NAME...: the spec tree holds exactly these CVMs.
want() {
	local n
	rm -f specs/cvm-*.yaml
	for n in "$@"; do
		cat >"specs/$n.yaml" <<-EOF || return 1
		apiVersion: cvmctl/v1
		kind: CVM
		metadata: {name: $n}
		spec:
		  flavor: manager
		  vcpus: 2
		  memoryGiB: 4
		EOF
	done
}

# on_hosts CMDS-A CMDS-B: one virsh process runs virsh commands on host a,
# then on host b; "@a" and "@b" lines mark where each host's output starts.
on_hosts() {
	virsh -c "$URI_a" "echo @a; $1 connect $URI_b; echo @b; $2"
}

# owned_domains: one line per domain that carries cvmctl's marker, on
# either host: NAME UUID STATE HOST INSTALLATION SCOPE MARKER-ID (sorted).
owned_domains() {
	local cmds
	cmds=$(on_hosts "list --all --uuid;" "list --all --uuid") &&
	cmds=$(echo "$cmds" | awk '
		/^@a$/ { h = "a"; next }
		/^@b$/ { h = "b"; next }
		NF { c[h] = c[h] sprintf("dumpxml %s; domstate %s; ", $1, $1) }
		END { print c["a"]; print c["b"] }') &&
	on_hosts "$(echo "$cmds" | sed -n 1p)" "$(echo "$cmds" | sed -n 2p)" | awk '
		function val(s) { sub(/^[^>]*>/, "", s); sub(/<.*/, "", s); return s }
		/^@a$/ { host = "a"; next }
		/^@b$/ { host = "b"; next }
		/^<domain/ { uuid = name = inst = scope = id = "-"; own = 0 }
		/^  <uuid>/ { uuid = val($0) }
		/<([a-z]+:)?managed-by>cvmctl</ { own = 1 }
		/<([a-z]+:)?name>/ && !/^  <name>/ { name = val($0) }
		/<([a-z]+:)?installation>/ { inst = val($0) }
		/<([a-z]+:)?scope>/ { scope = val($0) }
		/<([a-z]+:)?id>/ { id = val($0) }
		/^<\/domain>/ { getstate = 1; next }
		getstate && NF { st = $0; gsub(/ /, "-", st); getstate = 0
			if (own) print name, uuid, st, host, inst, scope, id }
	' | sort
}

# records: NAME ID STATUS of every record of the state (sorted).
records() {
	cv list -o json | jq -r '.[] | "\(.name) \(.id) \(.status)"' | sort
}

# world: one line that says how far the world got, e.g.
# "domains: 5 running, 1 other; records: Creating=7 Running=5".
world() {
	local d r
	owned_domains >world.doms && records >world.recs || return 1
	d=$(awk '$3 == "running" { r++ } $3 != "running" { o++ }
		END { printf "domains: %d running, %d other", r, o }' world.doms)
	r=$(awk '{ print $3 }' world.recs | sort | uniq -c | awk '{ printf " %s=%s", $2, $1 }')
	echo "$d; records:${r:- none}"
}

# check_converged NAME...: the world is exactly these desired CVMs, and the
# next pass (and the plan) have nothing to do.
check_converged() {
	owned_domains >conv.doms && records >conv.recs || return 1
	echo "owned domains:" && cat conv.doms && echo "records:" && cat conv.recs &&
	# (1) one domain per desired name across both hosts, all running,
	# nothing else of ours, each domain's marker naming its own UUID
	printf '%s\n' "$@" | sort >conv.want &&
	awk '{ print $1 }' conv.doms >conv.have &&
	test_cmp conv.want conv.have &&
	awk '$3 != "running" || $2 != $7 { print "bad domain:", $0; bad = 1 } END { exit bad }' conv.doms &&
	test "$(awk '{ print $5, $6 }' conv.doms | sort -u | wc -l)" -le 1 &&
	# (2) each domain's UUID is the id of its name's Running record
	awk '$3 == "Running" { print $1, $2 }' conv.recs >conv.running &&
	awk '{ print $1, $2 }' conv.doms >conv.domids &&
	test_cmp conv.domids conv.running &&
	# (3) nothing is left Creating, Deleting or Failed
	awk '$3 != "Running" && $3 != "Inactive"' conv.recs >conv.stuck &&
	test_must_be_empty conv.stuck &&
	# (4) the next pass does nothing, and neither would a plan
	rec >conv.next 2>&1 && cat conv.next &&
	grep "0 created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, $# up to date; 0 failed" conv.next &&
	cv plan -f specs --detailed-exitcode &&
	owned_domains >conv.doms2 &&
	test_cmp conv.doms conv.doms2
}

# rerun [reconcile flags]: the pass after a crash must succeed.
rerun() {
	rerun_code 0 "$@"
}

# rerun_code CODE [reconcile flags]: ... or exit with CODE.
rerun_code() {
	local want=$1 rc
	shift
	rec "$@" >rerun.out 2>&1 && rc=0 || rc=$?
	cat rerun.out
	test "$rc" = "$want" || { echo "the rerun exited $rc, wanted $want"; return 1; }
}

# survived NAME...: every domain of these CVMs that the crash left behind
# (as world last saw it) is still there after the rerun, with the same UUID
# on the same host: a rerun resumes or adopts, it never makes another.
survived() {
	printf '%s\n' "$@" >surv.names &&
	awk 'NR == FNR { want[$1] = 1; next } want[$1] { print $1, $2, $4 }' surv.names world.doms |
		sort >surv.before &&
	awk '{ print $1, $2, $4 }' conv.doms | sort | comm -23 surv.before - >surv.lost &&
	test_must_be_empty surv.lost
}

# The names of the Inactive records that check_converged saw, sorted.
inactive_names() {
	awk '$3 == "Inactive" { print $1 }' conv.recs
}

# wipe NAME: a fresh world for the next scenario: every owned domain
# undefined, share directories removed, a new state directory state-NAME.
wipe() {
	owned_domains >wipe.doms || return 1
	on_hosts "$(awk '$4 == "a" { printf "destroy %s; undefine %s; ", $2, $2 }' wipe.doms)" \
		"$(awk '$4 == "b" { printf "destroy %s; undefine %s; ", $2, $2 }' wipe.doms)" >/dev/null 2>&1
	rm -rf shares "$TRASH/state-$1" &&
	ST=$TRASH/state-$1
}

# converge STATE NAME... in a fresh world: the starting point of the
# deleting scenarios.
converge() {
	local st=$1
	shift
	wipe "$st" && want "$@" && rec >converge.out 2>&1 || { cat converge.out; return 1; }
	grep "$# created, 0 adopted, 0 started, 0 updated, 0 replaced, 0 deleted, 0 up to date; 0 failed" converge.out
}

# ms: milliseconds since some fixed point.
ms() {
	echo $(($(date +%s%N) / 1000000))
}

# crash_run CRASH-AT [reconcile flags]: a pass killed at that crash point
# must die by SIGKILL (137). Sets CRASH_MS, how long it lived.
crash_run() {
	local at=$1 t0 rc
	shift
	t0=$(ms)
	CVMCTL_CRASH_AT=$at "$CVMCTL" --state-dir "$ST" reconcile -f specs --once --concurrency 2 "$@" \
		>crash.out 2>&1 && rc=0 || rc=$?
	CRASH_MS=$(($(ms) - t0))
	cat crash.out
	test "$rc" = 137 || { echo "wanted death by SIGKILL (137) at $at, got exit $rc"; return 1; }
	grep "crash point ${at%%:*} reached" crash.out
}

# kill_run [reconcile flags]: a pass SIGKILLed after a random delay between
# KILL_LO and KILL_HI milliseconds (DELAY). It must die by SIGKILL, or have
# finished before it.
kill_run() {
	local pid rc
	DELAY=$((KILL_LO + RANDOM % (KILL_HI - KILL_LO + 1)))
	# A process killed while LeakSanitizer checks it at exit leaves a torn
	# report ("Unable to get registers"): leaks are checked on the reruns,
	# which run to completion, not on the runs this test kills.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		"$CVMCTL" --state-dir "$ST" reconcile -f specs --once "$@" >kill.out 2>&1 5>&- &
	pid=$!
	sleep "$(printf '%d.%03d' $((DELAY / 1000)) $((DELAY % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" && rc=0 || rc=$?
	echo "SIGKILL after $DELAY ms: exit $rc"
	case "$rc" in
	137|0) ;;
	*) cat kill.out; return 1 ;;
	esac
}

# classify UNTOUCHED COMPLETE: how far the world got: "untouched" (killed
# before anything happened), "complete" (killed after the pass was done)
# or "partial" (the kill landed mid-pass); counted in KILLS_<how>. A kill
# that came too early or too late moves the window for the next one, so the
# kills keep landing mid-pass on a slow or a busy machine.
classify() {
	local w
	w=$(world) || return 1
	case "$w" in
	"$1") HOW=untouched ;;
	"$2") HOW=complete ;;
	*) HOW=partial ;;
	esac
	echo "world after the kill ($HOW): $w"
	echo "$HOW after $DELAY ms (window $KILL_LO..$KILL_HI): $w" >>"$TRASH/kills.$PHASE"
	eval "KILLS_$HOW=\$((KILLS_$HOW + 1))"
	# The window never gets narrower than KILL_MIN_WIDTH: one that closes
	# in moves away from the side the kills missed on.
	case "$HOW" in
	untouched)
		KILL_LO=$DELAY
		[ $((KILL_HI - KILL_LO)) -ge "$KILL_MIN_WIDTH" ] || KILL_HI=$((KILL_LO + KILL_MIN_WIDTH))
		;;
	complete)
		KILL_HI=$DELAY
		[ $((KILL_HI - KILL_LO)) -ge "$KILL_MIN_WIDTH" ] || KILL_LO=$((KILL_HI - KILL_MIN_WIDTH))
		[ "$KILL_LO" -gt 0 ] || KILL_LO=1
		;;
	esac
}
KILL_MIN_WIDTH=150

# aim_kills PHASE INTENT-MS STATUS-MS: the kills of PHASE start aiming at
# [intent commit - 40 ms, status commit + 40 ms] as measured by a crash
# point run; classify moves the window from there.
aim_kills() {
	PHASE=$1
	KILL_LO=$(($2 - 40))
	KILL_HI=$(($3 + 40))
	[ "$KILL_LO" -gt 0 ] || KILL_LO=1
	[ $((KILL_HI - KILL_LO)) -ge "$KILL_MIN_WIDTH" ] || KILL_HI=$((KILL_LO + KILL_MIN_WIDTH))
	KILLS_untouched=0 KILLS_partial=0 KILLS_complete=0
}

# random_kill UNTOUCHED COMPLETE RESET: kill_run and classify, up to four
# times until a kill lands mid-pass. A kill that came before anything
# happened left the world as it was and is simply tried again; after one
# that came too late, RESET (a command) sets the scene again.
random_kill() {
	local tries=4
	while :; do
		kill_run --concurrency 1 && classify "$1" "$2" || return 1
		tries=$((tries - 1))
		[ "$HOW" != partial ] && [ "$tries" -gt 0 ] || return 0
		if [ "$HOW" = complete ]; then
			eval "$3" || return 1
		fi
	done
}

# installation: the installation id in the markers of the owned domains
# that world saw last.
installation() {
	awk '{ print $5 }' world.doms | sort -u
}

# ---- the tests -------------------------------------------------------------

test_expect_success 'setup: two hosts, a provider with room for all' '
	command -v jq &&
	libvirtd_start a b &&
	write_provider &&
	wipe setup && want $ALL &&
	cv validate -f specs
'
[ "$test_failed_" = 0 ] || test_done

NONE="domains: 0 running, 0 other; records: none"
ALL_UP="domains: $N running, 0 other; records: Running=$N"
KEPT="domains: 3 running, 0 other; records: Inactive=$((N - 3)) Running=3"

# The crash points of a creating pass; a count lands the crash mid-wave
# (two workers per provider).
for at in after-intent-commit after-define:4 after-start:7 before-status-commit; do
	name=${at%%:*}
	test_expect_success "crash at $at while creating $N CVMs leaves a partial world" '
		wipe "$name" && want $ALL &&
		crash_run "$at" &&
		world >partial && cat partial &&
		! grep -xF "$ALL_UP" partial &&
		! grep -xF "$NONE" partial
	'
	# The random kills below aim at the window these two show.
	case "$at" in
	after-intent-commit) T_INTENT=$CRASH_MS ;;
	before-status-commit) T_STATUS=$CRASH_MS ;;
	esac

	test_expect_success "... and the rerun after $at converges" '
		rerun &&
		check_converged $ALL &&
		survived $ALL
	'
done

aim_kills create "${T_INTENT:-150}" "${T_STATUS:-400}"
for i in 1 2 3 4; do
	test_expect_success "random SIGKILL $i of a creating pass; the rerun converges" '
		wipe "kill-$i" && want $ALL &&
		random_kill "$NONE" "$ALL_UP" "wipe kill-$i-again && want \$ALL" &&
		rerun &&
		check_converged $ALL &&
		survived $ALL
	'
done

# ---- the state directory is lost before the rerun --------------------------

test_expect_success 'lost state after a crash before the status commit: pure adoption by installation id' '
	wipe lost-1 && want $ALL &&
	crash_run before-status-commit &&
	world && cp world.doms before &&
	inst=$(installation) && echo "installation $inst" &&
	test "$(echo "$inst" | wc -l)" = 1 &&
	rm -rf "$ST" &&
	rerun --installation-id "$inst" &&
	grep "0 created, $N adopted, 0 started" rerun.out &&
	owned_domains >after &&
	test_cmp before after &&
	check_converged $ALL
'

test_expect_success 'a new state without the installation id takes nothing over' '
	owned_domains >before &&
	rm -rf "$ST" &&
	rerun_code 1 &&
	grep "0 created, 0 adopted" rerun.out &&
	grep "error: create cvm-01 .*: a domain named cvm-01 already exists" rerun.out &&
	owned_domains >after &&
	test_cmp before after &&
	records >recs && cat recs &&
	test "$(awk "\$3 == \"Failed\"" recs | wc -l)" = $N
'

test_expect_success '... not even by creating the name again on the other host' '
	want cvm-02 &&
	owned_domains >before && grep "^cvm-02 .* b " before &&
	rm -rf "$ST" &&
	rerun_code 1 &&
	grep "0 created, 0 adopted" rerun.out &&
	grep "error: create cvm-02 .*: a domain named cvm-02 already exists on .*libvirtd-b" rerun.out &&
	owned_domains >after &&
	test_cmp before after
'

test_expect_success 'lost state after a crash mid-define: adoption keeps every UUID' '
	wipe lost-2 && want $ALL &&
	crash_run after-define:5 &&
	world >partial && cat partial && ! grep -xF "$ALL_UP" partial &&
	inst=$(installation) &&
	rm -rf "$ST" &&
	rerun --installation-id "$inst" &&
	grep "created, $(wc -l <world.doms) adopted" rerun.out &&
	check_converged $ALL &&
	survived $ALL
'

test_expect_success 'random SIGKILL, then the state is lost; adoption converges' '
	wipe lost-kill && want $ALL &&
	random_kill "$NONE" "$ALL_UP" "wipe lost-kill-again && want \$ALL" &&
	inst=$(installation) &&
	rm -rf "$ST" &&
	rerun ${inst:+--installation-id "$inst"} &&
	grep "created, $(wc -l <world.doms) adopted" rerun.out &&
	check_converged $ALL &&
	survived $ALL
'

test_expect_success 'random kills of creating passes landed mid-pass' '
	cat "$TRASH/kills.create" &&
	echo "window $KILL_LO..$KILL_HI ms: $KILLS_partial partial, $KILLS_untouched untouched, $KILLS_complete complete" &&
	test "$KILLS_partial" -ge 3
'

# ---- a deleting pass -------------------------------------------------------

for at in after-intent-commit before-status-commit; do
	test_expect_success "crash at $at while deleting $((N - 3)) of $N CVMs leaves a partial world" '
		converge "del-$at" $ALL &&
		want $KEEP &&
		crash_run "$at" &&
		world >partial && cat partial &&
		! grep -xF "$KEPT" partial &&
		! grep -xF "$ALL_UP" partial
	'
	case "$at" in
	after-intent-commit) D_INTENT=$CRASH_MS ;;
	before-status-commit) D_STATUS=$CRASH_MS ;;
	esac

	test_expect_success "... and the rerun after $at converges" '
		rerun &&
		check_converged $KEEP &&
		survived $KEEP &&
		inactive_names >inactive && printf "%s\n" $REMOVED >expect &&
		test_cmp expect inactive
	'
done

# plan.c's "owned orphan" rule: with the state lost, the removed CVMs'
# domains are ours (installation, scope) with no record and no spec.
test_expect_success 'lost state after a crash mid-delete: the owned orphans are deleted' '
	converge del-lost $ALL &&
	want $KEEP &&
	crash_run after-intent-commit &&
	world && test "$(wc -l <world.doms)" = $N && inst=$(installation) &&
	rm -rf "$ST" &&
	rerun --installation-id "$inst" &&
	grep "0 created, 3 adopted, 0 started, 0 updated, 0 replaced, $((N - 3)) deleted" rerun.out &&
	check_converged $KEEP &&
	survived $KEEP &&
	inactive_names >inactive && printf "%s\n" $REMOVED >expect &&
	test_cmp expect inactive
'

aim_kills delete "${D_INTENT:-150}" "${D_STATUS:-300}"
# The last one loses the state before the rerun: the removed CVMs whose
# domains survived the kill are owned orphans then, deleted and recorded
# Inactive; those already gone leave no record in the new state.
for i in 1 2 3; do
	lost=
	[ "$i" = 3 ] && lost=", state lost"
	test_expect_success "random SIGKILL $i of a deleting pass$lost; the rerun converges" '
		converge "del-kill-$i" $ALL &&
		want $KEEP &&
		random_kill "$ALL_UP" "$KEPT" "converge del-kill-$i-again \$ALL && want \$KEEP" &&
		inst=$(installation) &&
		if [ -n "$lost" ]; then rm -rf "$ST"; fi &&
		rerun ${lost:+--installation-id "$inst"} &&
		check_converged $KEEP &&
		survived $KEEP &&
		inactive_names >inactive && printf "%s\n" $REMOVED >expect &&
		if [ -n "$lost" ]; then
			awk "{ print \$1 }" world.doms | comm -12 - expect >expect.lost &&
			test_cmp expect.lost inactive
		else
			test_cmp expect inactive
		fi
	'
done

test_expect_success 'random kills of deleting passes landed mid-pass' '
	cat "$TRASH/kills.delete" &&
	echo "window $KILL_LO..$KILL_HI ms: $KILLS_partial partial, $KILLS_untouched untouched, $KILLS_complete complete" &&
	test "$KILLS_partial" -ge 1
'

test_done
