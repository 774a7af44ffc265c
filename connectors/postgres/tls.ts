/**
 * TLS as libpq does it (PostgreSQL docs, libpq "SSL Support", table "SSL Mode Descriptions"):
 *
 *   sslmode      tries                       certificate checked
 *   disable      plaintext                   -
 *   allow        plaintext, then TLS         chain, only when a root certificate is there
 *   prefer       TLS, then plaintext         chain, only when a root certificate is there
 *   require      TLS                         chain, only when a root certificate is there
 *   verify-ca    TLS                         chain (a root certificate is required)
 *   verify-full  TLS                         chain and host name
 *
 * "A root certificate is there": `sslrootcert`, or `~/.postgresql/root.crt` when it exists;
 * `sslrootcert=system` is the system's trusted roots and makes `verify-full` the default (weaker
 * modes are refused, as libpq does). A client certificate is `sslcert` + `sslkey`, or
 * `~/.postgresql/postgresql.crt` + `.key` when they exist; the key file must not be readable by
 * group or others (0600, or 0640 owned by root). Unix-socket connections never use TLS, whatever
 * the mode (libpq's rule). Files are read when the endpoint is resolved, so the endpoint carries
 * PEM text to worker threads and a missing file is reported before anything connects.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** What a resolved endpoint knows of TLS. Plain data (crosses worker boundaries). */
export interface TlsSettings {
  sslmode: SslMode;
  /** `none`: any certificate; `chain`: signed by the root certificate; `full`: and names the host. */
  verify: 'none' | 'chain' | 'full';
  /** PEM of the root certificate(s), or 'system'. Absent: no root certificate. */
  ca?: string;
  /** Where the root certificate came from (a path or `system`), for messages. */
  caSource?: string;
  cert?: string;
  key?: string;
  certSource?: string;
}

export class TlsFileError extends Error {}

/** Expands a leading `~/` as libpq does for its file keywords. */
export function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TlsFileError(`could not read ${what} "${file}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** libpq's check of the private key file (fe-secure-openssl.c): a regular file, not open to group or others. */
export function checkKeyFile(file: string): void {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new TlsFileError(`could not read private key file "${file}": no such file`);
  }
  if (!st.isFile()) throw new TlsFileError(`private key file "${file}" is not a regular file`);
  if (process.platform === 'win32') return;
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  const tooOpen = (st.uid === uid && (st.mode & 0o077) !== 0) || (st.uid === 0 && (st.mode & 0o037) !== 0);
  if (tooOpen) {
    throw new TlsFileError(
      `private key file "${file}" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root`,
    );
  }
}

export interface TlsFiles {
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
}

const postgresqlDir = () => path.join(os.homedir(), '.postgresql');

/** Resolves the mode and reads the files it needs. Throws TlsFileError with libpq's reasons. */
export function resolveTls(given: TlsFiles): TlsSettings {
  const system = given.sslrootcert === 'system';
  const sslmode = (given.sslmode ?? (system ? 'verify-full' : 'prefer')) as SslMode;
  if (!SSL_MODES.includes(sslmode)) throw new TlsFileError(`invalid sslmode value: "${sslmode}"`);
  if (sslmode === 'disable') return { sslmode, verify: 'none' };
  if (system && sslmode !== 'verify-full') {
    throw new TlsFileError(`weak sslmode "${sslmode}" may not be used with sslrootcert=system (use "verify-full")`);
  }
  const out: TlsSettings = { sslmode, verify: sslmode === 'verify-full' ? 'full' : sslmode === 'verify-ca' ? 'chain' : 'none' };
  if (system) {
    out.ca = 'system';
    out.caSource = 'system';
  } else {
    const rootFile = given.sslrootcert ? expandHome(given.sslrootcert) : path.join(postgresqlDir(), 'root.crt');
    if (given.sslrootcert || existsSync(rootFile)) {
      out.ca = readPem(rootFile, 'root certificate file');
      out.caSource = rootFile;
      // With a root certificate libpq checks the chain in every mode that uses TLS.
      if (out.verify === 'none') out.verify = 'chain';
    } else if (out.verify !== 'none') {
      throw new TlsFileError(
        `root certificate file "${rootFile}" does not exist; either provide the file (sslrootcert), use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification`,
      );
    }
  }
  const certFile = given.sslcert ? expandHome(given.sslcert) : path.join(postgresqlDir(), 'postgresql.crt');
  if (given.sslcert || existsSync(certFile)) {
    const keyFile = given.sslkey ? expandHome(given.sslkey) : path.join(postgresqlDir(), 'postgresql.key');
    out.cert = readPem(certFile, 'certificate file');
    out.certSource = certFile;
    if (!existsSync(keyFile)) throw new TlsFileError(`certificate present, but not private key file "${keyFile}"`);
    checkKeyFile(keyFile);
    out.key = readPem(keyFile, 'private key file');
  } else if (given.sslkey) {
    throw new TlsFileError(`sslkey "${expandHome(given.sslkey)}" is given without a certificate (sslcert)`);
  }
  return out;
}

let systemRoots: string[] | undefined;

/** Node's bundled roots and the operating system's CA bundle (OpenSSL's default file), once per thread. */
function systemCa(): string[] {
  if (systemRoots) return systemRoots;
  const roots = [...tls.rootCertificates];
  const candidates = [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
  for (const file of candidates) {
    if (!file) continue;
    try {
      roots.push(readFileSync(file, 'utf8'));
      break;
    } catch {
      /* the next one */
    }
  }
  systemRoots = roots;
  return roots;
}

/** The `ssl` option of node-postgres (tls.connect options) for one TLS attempt. */
export function tlsConnectOptions(t: TlsSettings): tls.ConnectionOptions {
  const opts: tls.ConnectionOptions = { rejectUnauthorized: t.verify !== 'none' };
  if (t.ca) opts.ca = t.ca === 'system' ? systemCa() : t.ca;
  // verify-ca and a chain check in weaker modes: the chain, not the name (node checks the name by default).
  if (t.verify === 'chain') opts.checkServerIdentity = () => undefined;
  if (t.cert) opts.cert = t.cert;
  if (t.key) opts.key = t.key;
  return opts;
}

/** TLS errors of Node/OpenSSL → why, in words, naming the mode and the file. */
export function describeTlsError(e: unknown, t: TlsSettings, host: string): string | undefined {
  const err = e as NodeJS.ErrnoException & { reason?: string; cert?: { subjectaltname?: string; subject?: { CN?: string } } };
  const code = err?.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = err.cert?.subjectaltname ?? (err.cert?.subject?.CN ? `CN=${err.cert.subject.CN}` : 'other names');
    return `server certificate for ${names} does not match host name "${host}" (sslmode verify-full checks the host name; verify-ca checks only the chain)`;
  }
  const chain = [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'CERT_UNTRUSTED',
    'CERT_SIGNATURE_FAILURE',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
  ];
  if (chain.includes(code)) {
    const ca = t.caSource === 'system' ? "the system's trusted roots" : `the root certificate in ${t.caSource}`;
    return `server certificate verify failed: ${err.message} (code ${code}; checked against ${ca}, sslmode ${t.sslmode})`;
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /ssl|tls|certificate/i.test(err?.message ?? '')) {
    return `TLS handshake failed: ${err.message}${code ? ` (code ${code})` : ''}`;
  }
  return undefined;
}
