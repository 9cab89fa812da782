#!/bin/bash
# Azure credentials and trust, against the emulator: a client secret from
# a file or the environment, a client certificate (RS256 assertion with
# x5t) and a federated token file each get a token and create; a wrong
# secret, a secret file others can read, a failing token endpoint and a
# CA that does not sign the endpoint make the provider's CVMs Unknown with
# one clear sentence and exit 1; a nextLink naming another host is not
# followed with the token; and no secret, assertion or token shows in any
# output, -v included.

. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/t22-fixtures/azure.sh"

test_expect_success 'an emulator, two pages of VMs' '
	azure_emu_start &&
	write_azure_cvm specs/w-1.yaml w-1 &&
	write_azure_cvm specs/w-2.yaml w-2
'

secret_free() {
	local f secret
	secret=$(cat "$ARM_DIR/client-secret")
	for f in "$@"; do
		! grep -F -e "$secret" "$f" || { echo "$f shows the client secret"; return 1; }
		! grep -e "BEGIN .*PRIVATE KEY" -e "eyJ[A-Za-z0-9_-]\{20,\}" "$f" || { echo "$f shows a key or a token"; return 1; }
	done
}

unknown_run() {
	{ cvmctl -v reconcile -f specs --once >out 2>err; rc=$?; } &&
	cat out err &&
	test "$rc" = 1 &&
	grep "2 unknown" out &&
	test "$(count vm)" = 0 &&
	secret_free out err
}

test_expect_success 'a CA that does not sign the endpoint: Unknown, exit 1' '
	write_azure_provider specs/providers.yaml az ca="$ARM_DIR/other.pem" &&
	unknown_run &&
	grep -i "certificate" err
'

test_expect_success 'a wrong client secret: Unknown with the token endpoint refusal, exit 1' '
	printf "not-the-secret\n" >wrong-secret && chmod 600 wrong-secret &&
	write_azure_provider specs/providers.yaml az cred="clientSecretFile: $PWD/wrong-secret" &&
	unknown_run &&
	grep "client secret file $PWD/wrong-secret" err | grep "401 invalid_client" &&
	! grep -F "not-the-secret" out err
'

test_expect_success 'a secret file others can read: Unknown, its mode named' '
	cp "$ARM_DIR/client-secret" open-secret && chmod 644 open-secret &&
	write_azure_provider specs/providers.yaml az cred="clientSecretFile: $PWD/open-secret" &&
	unknown_run &&
	grep "open-secret has mode 0644" err
'

test_expect_success 'a token endpoint answering 500: Unknown, exit 1' '
	write_azure_provider specs/providers.yaml az &&
	ctl POST faults "{\"method\":\"POST\",\"path\":\"*/oauth2/v2.0/token\",\"preset\":\"internal\",\"times\":-1}" &&
	unknown_run &&
	grep "token request" err &&
	ctl DELETE faults
'

test_expect_success 'the client certificate signs an assertion the emulator accepts' '
	cp "$ARM_DIR/client-both.pem" cert.pem && chmod 600 cert.pem &&
	write_azure_provider specs/providers.yaml az cred="clientCertificateFile: $PWD/cert.pem" &&
	cvmctl -v reconcile -f specs --once >out 2>err &&
	grep "2 created" out &&
	secret_free out err
'

test_expect_success 'a nextLink naming another host is not followed with the token' '
	ctl PUT config "{\"pageSize\":1,\"linkBase\":\"https://elsewhere.example.test:1\"}" &&
	{ cvmctl -v reconcile -f specs --once >out 2>err; rc=$?; } &&
	cat out err &&
	test "$rc" = 1 &&
	grep "2 unknown" out &&
	grep "continues at https://elsewhere.example.test:1/" err | grep "not followed with the token" &&
	secret_free out err &&
	ctl PUT config "{\"pageSize\":1,\"linkBase\":\"\"}"
'

test_expect_success 'a nextLink on the endpoint is followed: two pages, both VMs up to date' '
	ctl DELETE requests &&
	cvmctl reconcile -f specs --once >out 2>err &&
	grep "2 up to date" out &&
	test "$(arm_ctl GET requests | jq "[.requests[] | select(.path | test(\"/virtualMachines$\"))] | length")" = 2
'

test_expect_success 'a federated token file and a secret from the environment get tokens too' '
	ctl PUT config "{\"pageSize\":100}" &&
	write_azure_provider specs/providers.yaml az cred="federatedTokenFile: $ARM_DIR/federated-token" &&
	cvmctl -v reconcile -f specs --once >out 2>err &&
	grep "2 up to date" out && secret_free out err &&
	! grep -F "$(cat "$ARM_DIR/federated-token")" out err &&
	write_azure_provider specs/providers.yaml az cred="clientSecretEnv: AZ_TEST_SECRET" &&
	AZ_TEST_SECRET=$(cat "$ARM_DIR/client-secret") cvmctl -v reconcile -f specs --once >out 2>err &&
	grep "2 up to date" out && secret_free out err
'

test_expect_success 'clientSecretEnv unset: Unknown, the variable named' '
	{ env -u AZ_TEST_SECRET "$CVMCTL" reconcile -f specs --once >out 2>err; rc=$?; } &&
	test "$rc" = 1 && grep "AZ_TEST_SECRET (clientSecretEnv) is not set" err
'

test_expect_success 'a managed identity: the token of the VM cvmctl runs on, from IMDS' '
	runner=/subscriptions/$ARM_SUB/resourceGroups/$AZ_RG/providers/Microsoft.Compute/virtualMachines/runner &&
	ctl POST resources "{\"id\":\"$runner\",\"location\":\"westeurope\",\"identity\":{\"type\":\"SystemAssigned\"}}" &&
	ctl PUT imds "{\"id\":\"$runner\"}" &&
	write_azure_provider specs/providers.yaml az cred="managedIdentity: system" &&
	ctl DELETE requests &&
	cvmctl -v reconcile -f specs --once >out 2>err &&
	grep "2 up to date" out && secret_free out err &&
	test "$(arm_ctl GET requests | jq "[.requests[] | select(.token == \"valid\")] | length")" -gt 0 &&
	test "$(arm_ctl GET requests | jq "[.requests[] | select(.path | test(\"oauth2/v2.0/token\"))] | length")" = 0
'

test_expect_success 'a managed identity where IMDS has none: Unknown, exit 1, the reason named' '
	ctl PUT imds "{\"id\":\"$(inv | jq -r "[.resources[] | select(.type == \"Microsoft.Compute/virtualMachines\" and .foreign != true)][0].id")\"}" &&
	{ cvmctl reconcile -f specs --once >out 2>err; rc=$?; } &&
	test "$rc" = 1 && grep -i "identity" err && grep "2 unknown" out
'

test_done
