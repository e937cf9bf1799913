import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/temporal/devServer.js';

/**
 * Certificates for a test, made with the machine's openssl: a CA, a server certificate for
 * `temporal.test` (and 127.0.0.1) it signed, a client certificate it signed, and a second,
 * unrelated CA with its own client certificate for the "wrong material" cases.
 */
export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

function openssl(dir: string, args: string[]) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string) {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function makeLeaf(dir: string, ca: string, name: string, ext: string) {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'aw-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'ca', 'server', 'subjectAltName=DNS:temporal.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  makeLeaf(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  makeLeaf(dir, 'other-ca', 'other-client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    otherCa: p('other-ca.pem'),
    otherClientCert: p('other-client.pem'),
    otherClientKey: p('other-client.key'),
  };
}

export interface GrpcTlsProxy {
  /** host:port of the proxy's TLS listener. */
  address: string;
  /** nginx's access log: one line per gRPC call, `auth=present|absent`, never the header's value. */
  accessLog: () => string;
  stop: () => Promise<void>;
}

const NGINX = '/usr/sbin/nginx';

/**
 * Debian's nginx as a TLS-terminating gRPC proxy that demands a client certificate signed by
 * `pki.ca`, in front of `upstream` (plain gRPC). Runs as this test's own process with its own
 * prefix and configuration in a temporary folder (not the system service). `bash
 * scripts/test-deps.sh` installs nginx.
 */
export async function startGrpcTlsProxy(pki: TestPki, upstream: string): Promise<GrpcTlsProxy> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: run \`bash scripts/test-deps.sh\` (installs Debian's nginx)`);
  const prefix = mkdtempSync(join(tmpdir(), 'aw-nginx-'));
  mkdirSync(join(prefix, 'logs'));
  const port = await freePort();
  const accessLog = join(prefix, 'logs', 'access.log');
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} info;
events { worker_connections 256; }
http {
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  # Whether an authorization header came, never its value.
  map $http_authorization $auth_presence { "" absent; default present; }
  log_format grpc '$request_uri status=$status verify=$ssl_client_verify auth=$auth_presence';
  access_log ${accessLog} grpc;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${pki.serverCert};
    ssl_certificate_key ${pki.serverKey};
    ssl_client_certificate ${pki.ca};
    ssl_verify_client on;
    client_max_body_size 0;
    keepalive_requests 100000;
    location / {
      grpc_pass grpc://${upstream};
      # Temporal's long polls last about a minute.
      grpc_read_timeout 120s;
      grpc_send_timeout 120s;
    }
  }
}
`;
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', confPath, '-e', join(prefix, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr} ${readFileSync(join(prefix, 'logs', 'error.log'), 'utf8')}`);
    if (await canConnect(port)) break;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `127.0.0.1:${port}`,
    accessLog: () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8') : ''),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
