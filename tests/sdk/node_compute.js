// Google's Node client (@google-cloud/compute, REST transport) against the
// GCE emulator, changed only in apiEndpoint/port, the key file and the CA
// (NODE_EXTRA_CA_CERTS). Prints "ok STEP" lines; throws on any surprise.
'use strict';
const compute = require('@google-cloud/compute');

const port = Number(process.env.GCE_PORT);
const {JWT} = require('google-auth-library');
// Node's google-auth-library posts token requests to Google's fixed token
// URL whatever the key file says (gtoken), so a user pointing it elsewhere
// has it send a self-signed JWT as the bearer instead, which Google accepts
// too and which needs no token endpoint: useJWTAccessWithScope.
const key = require(process.env.GCE_SA);
const authClient = new JWT({email: key.client_email, key: key.private_key, keyId: key.private_key_id,
                            scopes: ['https://www.googleapis.com/auth/cloud-platform']});
authClient.useJWTAccessWithScope = true;
const opts = {apiEndpoint: '127.0.0.1', port, authClient, fallback: 'rest'};
const project = 'cvmctl-test';
const zone = 'us-central1-a';

async function waitDone(ops, op) {
  for (let i = 0; i < 50 && op.status !== 'DONE'; i++) {
    // As Google's samples do: the zone is the last segment of Operation.zone.
    [op] = await ops.wait({operation: op.name, project, zone: op.zone.split('/').pop()});
  }
  if (op.status !== 'DONE') throw new Error('operation never finished');
  return op;
}

async function main() {
  const instances = new compute.InstancesClient(opts);
  const ops = new compute.ZoneOperationsClient(opts);
  const images = new compute.ImagesClient(opts);

  const [image] = await images.getFromFamily({project: 'ubuntu-os-cloud', family: 'ubuntu-2204-lts'});
  if (!image.guestOsFeatures.some(f => f.type === 'SEV_SNP_CAPABLE')) throw new Error('image lacks SEV_SNP_CAPABLE');
  console.log('ok image');

  const [resp] = await instances.insert({
    project, zone, requestId: '44444444-5555-4666-8777-888888888888',
    instanceResource: {
      name: 'node-1',
      machineType: `zones/${zone}/machineTypes/n2d-standard-4`,
      minCpuPlatform: 'AMD Milan',
      confidentialInstanceConfig: {confidentialInstanceType: 'SEV_SNP'},
      scheduling: {onHostMaintenance: 'TERMINATE'},
      disks: [{boot: true, autoDelete: true, interface: 'NVME',
               initializeParams: {sourceImage: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts'}}],
      networkInterfaces: [{network: 'global/networks/default', accessConfigs: [{type: 'ONE_TO_ONE_NAT'}]}],
      labels: {'made-by': 'node'},
    },
  });
  const op = await waitDone(ops, resp.latestResponse);
  if (op.error) throw new Error('insert failed: ' + JSON.stringify(op.error));
  console.log('ok insert');

  const [inst] = await instances.get({project, zone, instance: 'node-1'});
  if (inst.status !== 'RUNNING' || !inst.networkInterfaces[0].accessConfigs[0].natIP) throw new Error('not RUNNING with an IP');
  console.log('ok get');

  const [list] = await instances.list({project, zone, filter: 'labels.made-by = "node"', maxResults: 1});
  if (list.length !== 1 || list[0].name !== 'node-1') throw new Error('list: ' + JSON.stringify(list.map(i => i.name)));
  console.log('ok list');

  const [md] = await instances.setMetadata({project, zone, instance: 'node-1',
    metadataResource: {fingerprint: inst.metadata.fingerprint, items: [{key: 'cvmctl-certs', value: 'v1'}]}});
  await waitDone(ops, md.latestResponse);
  try {
    await instances.setMetadata({project, zone, instance: 'node-1',
      metadataResource: {fingerprint: inst.metadata.fingerprint, items: []}});
    throw new Error('a stale fingerprint was accepted');
  } catch (e) {
    if (e.code !== 412) throw e;
  }
  console.log('ok setMetadata');

  try {
    await instances.get({project, zone, instance: 'nope'});
    throw new Error('a missing instance was found');
  } catch (e) {
    if (e.code !== 404) throw e;
  }
  console.log('ok notFound');

  const [del] = await instances.delete({project, zone, instance: 'node-1'});
  await waitDone(ops, del.latestResponse);
  console.log('ok delete');
}

main().catch(e => { console.error(e); process.exit(1); });
