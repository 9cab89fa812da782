"""Google's own Python client (google-auth with requests) against the GCE
emulator, changed only in endpoint, token URI (the key file's) and CA
(REQUESTS_CA_BUNDLE). Each step prints one line "ok STEP" or fails with an
exception; the shell test checks the lines.

usage: google_clients.py STEP   (STEP: token, compute, refresh, jwt, metadata)
"""
import json
import os
import sys

import google.auth.transport.requests as gtr
from google.auth import jwt
from google.oauth2 import service_account

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
BASE = os.environ["GCE_URL"] + "/projects/cvmctl-test/zones/us-central1-a"


def session():
    creds = service_account.Credentials.from_service_account_file(os.environ["GCE_SA"], scopes=SCOPES)
    return creds, gtr.AuthorizedSession(creds)


def check(resp, status=200):
    if resp.status_code != status:
        raise SystemExit("HTTP %d, wanted %d: %s" % (resp.status_code, status, resp.text))
    return resp.json()


def wait_done(s, op):
    zone = op["zone"].rsplit("/", 1)[-1]  # as Google's clients take it
    for _ in range(50):
        if op["status"] == "DONE":
            return op
        url = "%s/projects/cvmctl-test/zones/%s/operations/%s/wait" % (os.environ["GCE_URL"], zone, op["name"])
        op = check(s.post(url, data=b""))
    raise SystemExit("operation %s never finished" % op["name"])


def body(name):
    return {
        "name": name,
        "machineType": "zones/us-central1-a/machineTypes/n2d-standard-2",
        "minCpuPlatform": "AMD Milan",
        "confidentialInstanceConfig": {"confidentialInstanceType": "SEV_SNP"},
        "scheduling": {"onHostMaintenance": "TERMINATE"},
        "disks": [{"boot": True, "autoDelete": True, "interface": "NVME",
                   "initializeParams": {"sourceImage": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"}}],
        "networkInterfaces": [{"network": "global/networks/default", "accessConfigs": [{"type": "ONE_TO_ONE_NAT"}]}],
        "labels": {"made-by": "python"},
    }


def step_token():
    creds, _ = session()
    creds.refresh(gtr.Request())
    assert creds.token and creds.valid, "no token"
    print("ok token")


def step_compute():
    _, s = session()
    op = check(s.post(BASE + "/instances", params={"requestId": "33333333-4444-4555-8666-777777777777"},
                      json=body("py-1")))
    op = wait_done(s, op)
    assert "error" not in op, op
    inst = check(s.get(BASE + "/instances/py-1"))
    assert inst["status"] == "RUNNING", inst["status"]
    assert inst["networkInterfaces"][0]["accessConfigs"][0]["natIP"], inst
    lst = check(s.get(BASE + "/instances", params={"filter": 'labels.made-by = "python"', "maxResults": 1}))
    assert [i["name"] for i in lst["items"]] == ["py-1"], lst
    fp = inst["metadata"]["fingerprint"]
    op = check(s.post(BASE + "/instances/py-1/setMetadata",
                      json={"fingerprint": fp, "items": [{"key": "cvmctl-certs", "value": "v1"}]}))
    wait_done(s, op)
    err = check(s.post(BASE + "/instances/py-1/setMetadata", json={"fingerprint": fp, "items": []}), 412)
    assert err["error"]["errors"][0]["reason"] == "conditionNotMet", err
    err = check(s.get(BASE + "/instances/nope"), 404)
    assert err["error"]["errors"][0]["reason"] == "notFound", err
    op = wait_done(s, check(s.delete(BASE + "/instances/py-1")))
    assert op["operationType"] == "delete", op
    check(s.get(BASE + "/instances/py-1"), 404)
    print("ok compute")


def step_refresh():
    # The token the session holds is expired by the shell test between the
    # two calls (through the control endpoint, told by a file appearing):
    # AuthorizedSession sees 401, refreshes once and retries.
    _, s = session()
    check(s.get(BASE + "/instances"))
    print("ok first", flush=True)
    sys.stdin.readline()
    check(s.get(BASE + "/instances"))
    print("ok refresh")


def step_jwt():
    creds = jwt.Credentials.from_service_account_file(os.environ["GCE_SA"], audience="https://compute.googleapis.com/")
    s = gtr.AuthorizedSession(creds)
    check(s.get(BASE + "/instances"))
    print("ok jwt")


def step_metadata():
    # GCE_METADATA_ROOT (host:port) points google-auth at the metadata server.
    from google.auth import compute_engine
    creds = compute_engine.Credentials()
    s = gtr.AuthorizedSession(creds)
    check(s.get(BASE + "/instances"))
    assert creds.service_account_email.endswith(".iam.gserviceaccount.com"), creds.service_account_email
    print("ok metadata")


if __name__ == "__main__":
    globals()["step_" + sys.argv[1]]()
