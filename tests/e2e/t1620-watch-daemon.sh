#!/bin/bash
# The watch daemon as an operator runs it: passes counted by their log lines
# ("pass N end: trigger=T ..."), one pass per burst of changes, no pass for
# a change that leaves the tree's content the same, the prune delay, a git
# checkout, a git-sync symlink swap, SIGTERM, cert renew beside it, and its
# metrics checked by promtool and node_exporter against virsh.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/libvirtd.sh"
. "$E2E_DIR/t1-fixtures/specs.sh"

command -v promtool >/dev/null || test_skip_all 'promtool (Debian prometheus) is not installed: scripts/deps.sh --test'
command -v prometheus-node-exporter >/dev/null ||
	test_skip_all 'prometheus-node-exporter is not installed: scripts/deps.sh --test'

DEBOUNCE_MS=300
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
PRUNE=4

# Passes that ended with trigger T from line L of watch.log on.
LOG=watch.log
passes_since() { tail -n +"$1" $LOG | grep -c "^pass [0-9]* end: trigger=$2 " || true; }
mark() { wc -l <$LOG | awk '{print $1 + 1}'; }

# A barrier: SIGHUP, then wait for its pass to end. Every event of a burst
# written before it has been read by the time that pass ends, so counting
# passes up to here counts all that the burst caused.
barrier() {
	local n
	n=$(grep -c "end: trigger=sighup " $LOG || true)
	kill -HUP "$watch_pid" &&
	test_wait_for 60 "[ \$(grep -c 'end: trigger=sighup ' $LOG) -gt $n ]"
}

record_status() {
	cvmctl --lock-timeout 10s list -o json | jq -r ".[] | select(.name == \"$1\") | .status"
}
domain_count() { virsh_names "$URI_a" | grep -vcx test || true; }
metric() { curl -fsS "http://127.0.0.1:$(cat port)/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

test_expect_success 'a git checkout of a tree: one Provider, CVMs c01..c10 in a/, 200 notes' '
	libvirtd_start a &&
	mkdir specs && git -C specs init -q &&
	write_provider specs/providers.yaml lab 256 "$URI_a" &&
	for i in 01 02 03 04 05 06 07 08 09 10; do write_cvm specs/a/c$i.yaml c$i vcpus=1 memoryGiB=1; done &&
	mkdir specs/notes && for i in $(seq 200); do echo "note $i, version 1" >specs/notes/n$i.md; done &&
	git -C specs add -A && git -C specs commit -qm one
'

test_expect_success 'the daemon starts, runs pass 1 and converges' '
	{ "$CVMCTL" -v reconcile -f specs --watch --resync 1h --debounce ${DEBOUNCE_MS}ms --prune-delay ${PRUNE}s \
		--metrics-addr 127.0.0.1:0 --metrics-port-file port >watch.out 2>watch.log & } &&
	watch_pid=$! &&
	test_atexit "kill $watch_pid 2>/dev/null || true" &&
	test_wait_for 120 "grep -q \"^pass 1 end: trigger=start exit=0\" watch.log" &&
	test "$(domain_count)" = 10 &&
	test_path_is_file port &&
	curl -fsS "http://127.0.0.1:$(cat port)/healthz" >health && echo ok >expect && test_cmp expect health &&
	curl -fsS "http://127.0.0.1:$(cat port)/readyz"
'

# Waits for a change pass after line L, then a barrier: a second pass
# from the same burst would have ended before the barrier's.
change_pass() { test_wait_for 60 "[ \$(passes_since $1 change) -ge 1 ]" && barrier; }

test_expect_success 'a touch and a rewrite that change no content run no pass' '
	m=$(mark) && touch specs/a/c01.yaml && cp specs/a/c02.yaml c02 && cat c02 >specs/a/c02.yaml &&
	test_wait_for 60 "tail -n +$m watch.log | grep -q \"tree unchanged\"" && barrier &&
	test "$(passes_since $m change)" = 0
'

test_expect_success 'a new file: one pass, the CVM created' '
	m=$(mark) && write_cvm specs/b/new.yaml new vcpus=1 memoryGiB=1 && change_pass $m &&
	test "$(passes_since $m change)" = 1 &&
	test "$(record_status new)" = Running && test "$(domain_count)" = 11
'

test_expect_success 'an edit in place (a label): one pass, the record has it' '
	m=$(mark) &&
	sed -i "s|^metadata: {name: new}$|metadata: {name: new, labels: {team: red}}|" specs/b/new.yaml && change_pass $m &&
	test "$(passes_since $m change)" = 1 &&
	cvmctl get new -o json | jq -e ".spec.labels.team == \"red\"" >/dev/null
'

test_expect_success 'a replace by rename: one pass, the record follows' '
	m=$(mark) &&
	sed "s|team: red|team: blue|" specs/b/new.yaml >new.tmp && mv new.tmp specs/b/new.yaml && change_pass $m &&
	test "$(passes_since $m change)" = 1 &&
	cvmctl get new -o json | jq -e ".spec.labels.team == \"blue\"" >/dev/null
'

test_expect_success 'rm, a pause of twice the debounce, the file back: no deletion' '
	m=$(mark) && cp specs/b/new.yaml new.keep && rm specs/b/new.yaml &&
	test_wait_for 60 "grep -q \"keeping new: its spec has been absent\" watch.log" &&
	sleep $((2 * DEBOUNCE_MS / 1000)).$((2 * DEBOUNCE_MS % 1000)) &&
	cp new.keep specs/b/new.yaml && test_wait_for 60 "[ \$(passes_since $m change) -ge 2 ]" && barrier &&
	test "$(passes_since $m change)" = 2 &&
	sleep $PRUNE && barrier &&
	test "$(passes_since $m prune)" = 0 &&
	test "$(record_status new)" = Running && virsh_names "$URI_a" | grep -qx new
'

test_expect_success 'a delete: held for the prune delay, then one prune pass deletes it' '
	m=$(mark) && rm -r specs/b &&
	test_wait_for 60 "[ \$(passes_since $m prune) = 1 ]" && barrier &&
	test "$(passes_since $m change)" = 1 && test "$(passes_since $m prune)" = 1 &&
	test "$(record_status new)" = Inactive && test "$(domain_count)" = 10
'

test_expect_success 'a checkout of 200+ files that moves every CVM to other files: one pass, same ids' '
	cvmctl list -o json | jq -r ".[] | select(.status != \"Inactive\") | \"\(.name) \(.id)\"" | sort >ids.before &&
	git clone -q specs other && git -C other checkout -q -b two &&
	mkdir other/team && cat other/a/*.yaml | sed "s/^apiVersion/---\napiVersion/" >other/team/all.yaml &&
	sed -i "s|^metadata: {name: c01}$|metadata: {name: c01, labels: {moved: \"yes\"}}|" other/team/all.yaml &&
	git -C other rm -q -r a && for i in $(seq 200); do echo "note $i, version 2" >other/notes/n$i.md; done &&
	git -C other add -A && git -C other commit -qm two && git -C specs fetch -q ../other two:two &&
	base=$(git -C specs symbolic-ref --short HEAD) && m=$(mark) &&
	git -C specs diff --stat "$base" two | tail -1 | grep -E "^ 2[0-9]{2} files changed" &&
	git -C specs checkout -q two && change_pass $m &&
	test "$(passes_since $m change)" = 1 &&
	! tail -n +$m watch.log | grep -q "keeping c" &&
	cvmctl list -o json | jq -r ".[] | select(.status != \"Inactive\") | \"\(.name) \(.id)\"" | sort >ids.after &&
	test_cmp ids.before ids.after && test "$(domain_count)" = 10 &&
	cvmctl get c01 -o json | jq -e ".spec.labels.moved == \"yes\"" >/dev/null
'

test_expect_success 'passes wait while .git/index.lock exists' '
	m=$(mark) && touch specs/.git/index.lock &&
	write_cvm specs/team/late.yaml late vcpus=1 memoryGiB=1 &&
	test_wait_for 60 "tail -n +$m watch.log | grep -q \"waiting: git holds .git/index.lock\"" &&
	test "$(passes_since $m change)" = 0 &&
	rm specs/.git/index.lock && change_pass $m &&
	test "$(passes_since $m change)" = 1 &&
	test "$(record_status late)" = Running
'

test_expect_success 'cert renew works beside the running daemon' '
	cvmctl --lock-timeout 30s cert renew c02 >renewed &&
	cvmctl --lock-timeout 30s cert list c02 -o json | jq -e "[.[] | select(.status == \"superseded\")] | length >= 1" >/dev/null
'

test_expect_success '/metrics passes promtool and agrees with virsh' '
	curl -fsS "http://127.0.0.1:$(cat port)/metrics" >metrics.txt &&
	promtool check metrics <metrics.txt &&
	test "$(metric "cvmctl_cvms{status=\"Running\"}")" = "$(domain_count)" &&
	test "$(metric "cvmctl_cvms{status=\"Inactive\"}")" = 1 &&
	test "$(grep -c "^cvmctl_certificate_expiry_timestamp_seconds{" metrics.txt)" = "$(domain_count)" &&
	passes=$(grep -c "^pass [0-9]* end: trigger=.* exit=0 " watch.log) &&
	test "$(metric "cvmctl_passes_total{result=\"ok\"}")" = "$passes" &&
	test "$(metric cvmctl_pass_duration_seconds_count)" = "$passes" &&
	test "$(metric "cvmctl_actions_total{provider=\"lab\",action=\"delete\",result=\"ok\"}")" = 1 &&
	test "$(metric "cvmctl_actions_total{provider=\"lab\",action=\"create\",result=\"ok\"}")" = 12 &&
	test "$(metric cvmctl_last_success_timestamp_seconds)" -gt $(($(date +%s) - 3600))
'

test_expect_success 'SIGTERM: exit 0 within a bound, the state recorded' '
	kill -TERM $watch_pid &&
	test_wait_for 60 "! kill -0 $watch_pid 2>/dev/null" &&
	wait $watch_pid &&
	grep -q "stopping on signal after" watch.log &&
	test "$(record_status late)" = Running
'

test_expect_success 'a git-sync-style symlink swap is seen' '
	mkdir -p sync/rev1 && cp specs/providers.yaml specs/team/*.yaml sync/rev1/ &&
	cp -r sync/rev1 sync/rev2 && write_cvm sync/rev2/swapped.yaml swapped vcpus=1 memoryGiB=1 &&
	ln -s rev1 sync/current &&
	{ "$CVMCTL" -v reconcile -f sync/current --watch --resync 1h --debounce ${DEBOUNCE_MS}ms >watch2.out 2>watch2.log & } &&
	watch_pid=$! &&
	test_atexit "kill $watch_pid 2>/dev/null || true" &&
	LOG=watch2.log &&
	test_wait_for 120 "grep -q \"^pass 1 end: trigger=start exit=0\" watch2.log" &&
	m=$(mark) && ln -s rev2 sync/current.tmp && mv -T sync/current.tmp sync/current &&
	change_pass $m && test "$(passes_since $m change)" = 1 &&
	test "$(record_status swapped)" = Running && virsh_names "$URI_a" | grep -qx swapped &&
	kill -TERM $watch_pid && wait $watch_pid
'

test_expect_success 'a ConfigMap-style ..data swap is seen' '
	mkdir -p cm/..v1 && cp sync/rev1/providers.yaml cm/..v1/ && write_cvm cm/..v1/cm.yaml cm vcpus=1 memoryGiB=1 &&
	ln -s ..v1 cm/..data && ln -s ..data/providers.yaml cm/providers.yaml && ln -s ..data/cm.yaml cm/cm.yaml &&
	{ "$CVMCTL" -v reconcile -f cm --watch --resync 1h --debounce ${DEBOUNCE_MS}ms --prune-delay 1h \
		>watch3.out 2>watch3.log & } &&
	watch_pid=$! && LOG=watch3.log &&
	test_atexit "kill $watch_pid 2>/dev/null || true" &&
	test_wait_for 120 "grep -q \"^pass 1 end: trigger=start exit=0\" watch3.log" &&
	test "$(record_status cm)" = Running &&
	cp -r cm/..v1 cm/..v2 &&
	sed -i "s|^metadata: {name: cm}$|metadata: {name: cm, labels: {v: \"2\"}}|" cm/..v2/cm.yaml &&
	m=$(mark) && ln -s ..v2 cm/..data_tmp && mv -T cm/..data_tmp cm/..data &&
	change_pass $m && test "$(passes_since $m change)" = 1 &&
	cvmctl get cm -o json | jq -e ".spec.labels.v == \"2\"" >/dev/null &&
	kill -TERM $watch_pid && wait $watch_pid
'

test_expect_success '-v --log-format json: one object per line, with fields' '
	rm sync/rev2/swapped.yaml &&
	cvmctl -v --log-format json reconcile -f sync/current --once >json.out 2>json.log &&
	jq -e . json.log >/dev/null &&
	test "$(jq -s "length" json.log)" = "$(wc -l <json.log)" &&
	jq -se "any(.[]; .msg == \"connected to provider lab\" and .provider == \"lab\" and (.duration | type) == \"number\")" json.log &&
	jq -se "any(.[]; .msg == \"timings:\" and (.observe_ms | type) == \"number\")" json.log &&
	id=$(cvmctl get swapped -o json | jq -r .id) &&
	jq -se "any(.[]; .action == \"delete\" and .cvm == \"swapped\" and .id == \"$id\" and .provider == \"lab\" and .result == \"deleted\" and .placement == \"$URI_a\")" json.log
'

test_expect_success 'reconcile --once --metrics-textfile: node_exporter reads it without error' '
	mkdir textfiles &&
	cvmctl reconcile -f sync/current --once --metrics-textfile textfiles/cvmctl.prom >once.out &&
	promtool check metrics <textfiles/cvmctl.prom &&
	grep -q "^cvmctl_passes_total{result=\"ok\"} 1$" textfiles/cvmctl.prom &&
	{ prometheus-node-exporter --web.listen-address=127.0.0.1:0 --collector.disable-defaults \
		--collector.textfile --collector.textfile.directory=textfiles >ne.log 2>&1 & } &&
	ne_pid=$! && test_atexit "kill $ne_pid 2>/dev/null || true" &&
	test_wait_for 30 "grep -q \"Listening on.*address=127.0.0.1:\" ne.log" &&
	ne_port=$(sed -n "s/.*Listening on.*address=127.0.0.1:\([0-9]*\).*/\1/p" ne.log | head -1) &&
	curl -fsS "http://127.0.0.1:$ne_port/metrics" >scraped &&
	grep -qx "node_textfile_scrape_error 0" scraped &&
	grep "^cvmctl_cvms{status=\"Running\"}" scraped | awk "{print \$2}" >running &&
	echo "$(domain_count)" >expect && test_cmp expect running &&
	kill $ne_pid
'

test_done
