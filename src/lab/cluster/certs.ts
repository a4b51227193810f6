// Certificates for a throw-away apiserver: one CA, a serving cert for 127.0.0.1, an admin client cert
// (O=system:masters) and the service-account signing key pair. openssl does the X.509 work.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClusterCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function signedCert(
  caDir: string,
  outDir: string,
  name: string,
  subject: string,
  extensions: string,
): { cert: string; key: string } {
  const key = join(outDir, `${name}.key`);
  const csr = join(outDir, `${name}.csr`);
  const ext = join(outDir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['genrsa', '-out', key, '2048']);
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(caDir, 'ca.crt'),
    '-CAkey',
    join(caDir, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    join(outDir, `${name}.crt`),
  ]);
  return { cert: join(outDir, `${name}.crt`), key };
}

/** A client certificate signed by the cluster CA in `caDir` (a kubelet's: CN system:node:NAME, O system:nodes). */
export const clientCert = (caDir: string, outDir: string, name: string, cn: string, org?: string) =>
  signedCert(caDir, outDir, name, `${org ? `/O=${org}` : ''}/CN=${cn}`, 'extendedKeyUsage=clientAuth\n');

/** `serverIps`: every address the apiserver is reached on (the lab adds its management address). */
export function generateCerts(dir: string, serverIps: string[]): ClusterCerts {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=purelb-test-ca',
  ]);
  signedCert(
    dir,
    dir,
    'server',
    '/CN=kube-apiserver',
    `subjectAltName=${[...new Set(['127.0.0.1', ...serverIps])].map((ip) => `IP:${ip}`).join(',')},DNS:localhost\n` +
      'extendedKeyUsage=serverAuth\n',
  );
  clientCert(dir, dir, 'admin', 'purelb-admin', 'system:masters');
  openssl(['genrsa', '-out', join(dir, 'sa.key'), '2048']);
  openssl(['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')]);
  return {
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
}
