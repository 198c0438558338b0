import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server certificate for 127.0.0.1 in a temp dir of its own; `remove()` deletes the dir. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
  /** The certificate's PEM, for a client to trust it as its own CA. */
  readonly ca: Buffer;
  remove(): void;
}

export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-tls-'));
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  try {
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...['-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { cert, key, ca: readFileSync(cert), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
