import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createServer, TLSSocket, type Server, type TlsOptions } from 'node:tls';
import type { Facility, TlsFilesConfig } from '../config/schema.js';
import type { HttpsOptions } from './api/types.js';
import type { Logger } from './log.js';

/** What the hub serves over TLS, read from the files the facility config names. */
export interface TlsSetup {
  https?: HttpsOptions;
  mqtt?: { host: string; port: number; options: TlsOptions; clientCerts: 'off' | 'optional' | 'required' };
}

function readPem(field: string, file: string, baseDir: string): Buffer {
  const path = isAbsolute(file) ? file : resolve(baseDir, file);
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new Error(`${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new Error(`${field}: ${path} is not a PEM file (no -----BEGIN line)`);
  return pem;
}

function serverOptions(section: string, cfg: TlsFilesConfig, baseDir: string): HttpsOptions {
  const out: HttpsOptions = { cert: readPem(`${section}.cert`, cfg.cert, baseDir), key: readPem(`${section}.key`, cfg.key, baseDir) };
  if (cfg.clientCerts !== 'off') {
    if (!cfg.clientCa) throw new Error(`${section}.clientCa: found nothing, expected the CA file that signs client certificates (clientCerts is ${cfg.clientCerts})`);
    out.ca = readPem(`${section}.clientCa`, cfg.clientCa, baseDir);
    out.requestCert = true;
    // "optional": a client without a certificate is let in (the token still decides); one
    // whose certificate does not verify is dropped after the handshake (see listenMqttTls).
    out.rejectUnauthorized = cfg.clientCerts === 'required';
  }
  return out;
}

/**
 * Reads the certificates and keys named under `http.tls` and `mqtt.tls`. Every problem
 * names the config field and the file. Relative paths are relative to `baseDir` (the
 * facility file's directory).
 */
export function loadTls(facility: Facility, baseDir: string): TlsSetup {
  const setup: TlsSetup = {};
  const http = facility.http.tls;
  if (http) setup.https = serverOptions('http.tls', http, baseDir);
  const mqtt = facility.mqtt.tls;
  if (mqtt) setup.mqtt = { host: mqtt.host, port: mqtt.port, options: serverOptions('mqtt.tls', mqtt, baseDir), clientCerts: mqtt.clientCerts };
  return setup;
}

/**
 * MQTT over TLS: a TLS listener whose sockets go to the same broker as the plain ones
 * (same authentication, ACL and limits). With optional client certificates, a client
 * that offers a certificate the CA did not sign is dropped.
 */
export async function listenMqttTls(
  mqtt: NonNullable<TlsSetup['mqtt']>,
  port: number,
  handle: (socket: TLSSocket) => void,
  log: Logger,
): Promise<{ server: Server; port: number }> {
  // TLS 1.2 at least; Node's defaults for ciphers.
  const server = createServer({ ...mqtt.options, minVersion: 'TLSv1.2' }, (socket) => {
    // TCP_NODELAY, as on the plain listener (facts.md: 40 ms per round trip without it).
    socket.setNoDelay(true);
    if (mqtt.clientCerts === 'optional' && !socket.authorized && socket.getPeerCertificate()?.subject !== undefined) {
      log.warn({ address: socket.remoteAddress, reason: String(socket.authorizationError) }, 'mqtt tls: client certificate not signed by the configured CA; connection dropped');
      socket.destroy();
      return;
    }
    handle(socket);
  });
  server.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, address: socket.remoteAddress }, 'mqtt tls handshake failed');
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, mqtt.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}

/**
 * A device that connected with a verified client certificate must be the device the
 * certificate names (subject CN = the MQTT username), so one device's certificate cannot
 * carry another device's token. Plain connections and TLS ones without a certificate pass
 * here (the listener's `clientCerts` setting decides whether those are allowed at all).
 */
export function checkDeviceCertificate(conn: unknown, deviceId: string): string | null {
  if (!(conn instanceof TLSSocket)) return null;
  const cert = conn.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0 || !conn.authorized) return null;
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn.join(',') : cn;
  return name === deviceId ? null : `client certificate is for "${String(name)}", not ${deviceId}`;
}
