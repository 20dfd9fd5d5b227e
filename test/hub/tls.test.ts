import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { facility, MQTT_ONLY_FACILITY, startTestHub, tempDir, ADMIN_PASSWORD } from '../helpers/hub.js';
import { connackCode } from '../fixtures/mqtt.js';

/** A CA, a server certificate for 127.0.0.1, a client certificate for gate-1, and a client certificate from another CA; made with the openssl CLI. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const key = (name: string): void => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`);
  for (const ca of ['ca', 'rogue-ca']) {
    key(ca);
    ssl('req', '-x509', '-new', '-key', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=${ca}`);
  }
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const signed = (name: string, cn: string, ca: string, ext?: string): void => {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', ...(ext ? ['-extfile', ext] : []));
  };
  signed('server', 'localhost', 'ca', 'server.ext');
  signed('gate-1', 'gate-1', 'ca');
  signed('rogue', 'gate-1', 'rogue-ca');
}

const tmp = tempDir('fh-tls-');
t.teardown(tmp.cleanup);
makeCertificates(tmp.dir);
const pem = (name: string): Buffer => readFileSync(join(tmp.dir, name));

function tlsFacility(mqttClientCerts: 'off' | 'optional' | 'required'): string {
  // Relative paths: resolved against configDir (the facility file's directory).
  return `${MQTT_ONLY_FACILITY}
http:
  tls: { cert: server.crt, key: server.key }
mqtt:
  tls: { cert: server.crt, key: server.key, clientCa: ca.crt, clientCerts: ${mqttClientCerts} }
`;
}

function httpsGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ca: pem('ca.crt'), headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void t.test('HTTPS from the configured files: real https client, HSTS, and no plain HTTP on that port', async (t) => {
  const th = await startTestHub({ facility: facility(tlsFacility('off')), extra: { configDir: tmp.dir, mqttTlsPort: 0 } });
  t.teardown(() => th.stop());
  const health = await httpsGet(th.hub.httpPort, '/healthz');
  t.equal(health.status, 200);
  t.match(String(health.headers['strict-transport-security']), /max-age=\d+/, 'HSTS over HTTPS');
  t.match(String(health.headers['content-security-policy']), /upgrade-insecure-requests/);
  const loginBody = JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD });
  const token = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: th.hub.httpPort, path: '/api/auth/login', method: 'POST', ca: pem('ca.crt'), headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve((JSON.parse(body) as { token: string }).token));
    });
    req.on('error', reject);
    req.end(loginBody);
  });
  t.equal((await httpsGet(th.hub.httpPort, '/api/devices', { authorization: `Bearer ${token}` })).status, 200, 'the API over HTTPS');
  await t.rejects(fetch(`http://127.0.0.1:${th.hub.httpPort}/healthz`), 'plain HTTP is not served');
  await t.rejects(
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: th.hub.httpPort, path: '/healthz', ca: pem('rogue-ca.crt') }, resolve);
      req.on('error', reject);
      req.end();
    }),
    /self[- ]signed|unable to verify|certificate/i,
    'a client that trusts another CA refuses the hub',
  );
});

void t.test('MQTT over TLS with required client certificates: a signed certificate and the token get in; none, or one from another CA, do not', async (t) => {
  const th = await startTestHub({ facility: facility(tlsFacility('required')), extra: { configDir: tmp.dir, mqttTlsPort: 0 } });
  t.teardown(() => th.stop());
  t.ok(th.hub.mqttTlsPort > 0, 'listening');
  const url = `mqtts://127.0.0.1:${th.hub.mqttTlsPort}`;
  const token = th.hub.tokens.issue('gate-1');
  const base = { username: 'gate-1', password: token, ca: pem('ca.crt'), reconnectPeriod: 0, protocolVersion: 4 as const, connectTimeout: 5000 };

  const client = await mqtt.connectAsync(url, { ...base, clientId: 'gate-1-tls', key: pem('gate-1.key'), cert: pem('gate-1.crt') });
  t.teardown(() => client.endAsync(true));
  t.ok(client.connected, 'a device with its certificate and token connects');
  await client.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true, ts: 0 }), { qos: 1, retain: true });
  t.ok(th.hub.broker.connectedDevices().includes('gate-1'), 'the same broker serves it');
  t.equal(await connackCode(url, { ...base, password: 'fhd_wrong', clientId: 'gate-1-bad', key: pem('gate-1.key'), cert: pem('gate-1.crt') }), 4, 'the token still decides');
  const gate2 = th.hub.tokens.issue('gate-2');
  t.equal(
    await connackCode(url, { ...base, username: 'gate-2', password: gate2, clientId: 'gate-2-with-gate-1-cert', key: pem('gate-1.key'), cert: pem('gate-1.crt') }),
    5,
    "gate-1's certificate cannot carry gate-2's token (CN must be the device id)",
  );
  await t.rejects(mqtt.connectAsync(url, { ...base, clientId: 'no-cert' }, false), 'no client certificate: no connection');
  await t.rejects(mqtt.connectAsync(url, { ...base, clientId: 'rogue', key: pem('rogue.key'), cert: pem('rogue.crt') }, false), 'a certificate from another CA: no connection');
});

void t.test('MQTT over TLS with optional client certificates: without one the token decides; a bad one is dropped', async (t) => {
  const th = await startTestHub({ facility: facility(tlsFacility('optional')), extra: { configDir: tmp.dir, mqttTlsPort: 0 } });
  t.teardown(() => th.stop());
  const url = `mqtts://127.0.0.1:${th.hub.mqttTlsPort}`;
  const token = th.hub.tokens.issue('gate-2');
  const base = { username: 'gate-2', password: token, ca: pem('ca.crt'), reconnectPeriod: 0, protocolVersion: 4 as const, connectTimeout: 5000 };
  t.equal(await connackCode(url, { ...base, clientId: 'plain-token' }), 0, 'no certificate: the token is enough');
  const gate1 = th.hub.tokens.issue('gate-1');
  t.equal(await connackCode(url, { ...base, username: 'gate-1', password: gate1, clientId: 'signed', key: pem('gate-1.key'), cert: pem('gate-1.crt') }), 0, 'a signed certificate naming the device');
  t.equal(await connackCode(url, { ...base, clientId: 'other-cert', key: pem('gate-1.key'), cert: pem('gate-1.crt') }), 5, 'a signed certificate naming another device: not authorized');
  await t.rejects(mqtt.connectAsync(url, { ...base, clientId: 'rogue', key: pem('rogue.key'), cert: pem('rogue.crt') }, false), 'a certificate from another CA is dropped');
  t.equal(await connackCode(th.mqttUrl, { ...base, clientId: 'loopback-plain' }), 0, 'the plain listener stays on loopback for local clients');
});

void t.test('TLS config problems stop the start and name the field and the file', async (t) => {
  const missing = `${MQTT_ONLY_FACILITY}\nmqtt:\n  tls: { cert: server.crt, key: nope.key }\n`;
  await t.rejects(startTestHub({ facility: facility(missing), extra: { configDir: tmp.dir } }), { message: new RegExp(`mqtt.tls.key: cannot read ${join(tmp.dir, 'nope.key')}: ENOENT`) });
  const noCa = `${MQTT_ONLY_FACILITY}\nhttp:\n  tls: { cert: server.crt, key: server.key, clientCerts: required }\n`;
  await t.rejects(startTestHub({ facility: facility(noCa), extra: { configDir: tmp.dir } }), { message: /http.tls.clientCa: found nothing, expected the CA file/ });
  const notPem = `${MQTT_ONLY_FACILITY}\nhttp:\n  tls: { cert: server.ext, key: server.key }\n`;
  await t.rejects(startTestHub({ facility: facility(notPem), extra: { configDir: tmp.dir } }), { message: /http.tls.cert: .*server.ext is not a PEM file/ });
});
