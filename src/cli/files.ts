/**
 * The certs/ layout written by `mlax pki init` (DESIGN.md trust model) and the file helpers the CLI
 * uses. Private keys are written mode 0600 in folders mode 0700; every write goes to a temporary
 * file in the same folder first and is renamed into place, so a reader never sees half a file.
 *
 *   <root>/ca/ca.crt, ca.key                 network CA (trust anchor)
 *   <root>/ca/directory.crt, directory.key   directory signer (issued by the CA)
 *   <root>/directory.jws                     signed directory
 *   <root>/authorities/<ID>/{sign,enc,tls}.{crt,key}
 */
import { createPrivateKey, randomBytes, type X509Certificate } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { LocalKey } from "../envelope/trust.ts";
import { InputError, type MlaxError, PkiError } from "../errors.ts";
import { parseCertificatePem } from "../pki/issue.ts";
import type { AuthorityRole } from "../pki/roles.ts";
import { subjectCommonName } from "../pki/validate-certificate.ts";

export interface CertsLayout {
  readonly root: string;
  readonly caDir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly directoryCert: string;
  readonly directoryKey: string;
  readonly directoryJws: string;
  readonly authoritiesDir: string;
  authorityDir(id: string): string;
  authorityFile(id: string, role: AuthorityRole, kind: "crt" | "key"): string;
}

export function certsLayout(root: string): CertsLayout {
  const caDir = join(root, "ca");
  const authoritiesDir = join(root, "authorities");
  return {
    root,
    caDir,
    caCert: join(caDir, "ca.crt"),
    caKey: join(caDir, "ca.key"),
    directoryCert: join(caDir, "directory.crt"),
    directoryKey: join(caDir, "directory.key"),
    directoryJws: join(root, "directory.jws"),
    authoritiesDir,
    authorityDir: (id) => join(authoritiesDir, id),
    authorityFile: (id, role, kind) => join(authoritiesDir, id, `${role}.${kind}`),
  };
}

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
export const PUBLIC_FILE_MODE = 0o644;
/** PEM certificates and keys are a few kB; a directory is capped at 16 MiB (schema.ts). */
const MAX_PEM_BYTES = 64 * 1024;
const MAX_TEXT_BYTES = 17 * 1024 * 1024;

function fileError(path: string, cause: unknown): MlaxError {
  const reason = (cause as NodeJS.ErrnoException)?.code ?? "unreadable";
  return new InputError("FILE_UNREADABLE", `${path}: ${reason}`, { cause, details: { path } });
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates a folder (and its parents) and sets it to 0700. */
export async function ensurePrivateDir(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
    await chmod(path, PRIVATE_DIR_MODE);
  } catch (cause) {
    throw fileError(path, cause);
  }
}

/** Writes a file atomically (temporary file + rename) with `mode`, whatever the umask. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(tmp, "wx", mode);
    try {
      await handle.writeFile(data, "utf8");
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw fileError(path, cause);
  }
}

export function writePrivateKey(path: string, pem: string): Promise<void> {
  return writeFileAtomic(path, pem, PRIVATE_FILE_MODE);
}

export function writePublicFile(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, text, PUBLIC_FILE_MODE);
}

/** Reads a UTF-8 file of at most `maxBytes` (FILE_UNREADABLE, INPUT_TOO_LARGE). */
export async function readTextFile(
  path: string,
  maxBytes: number = MAX_TEXT_BYTES,
): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (cause) {
    throw fileError(path, cause);
  }
  if (size > maxBytes) {
    throw new InputError("INPUT_TOO_LARGE", `${path} is ${size} bytes, over ${maxBytes}`, {
      details: { path },
    });
  }
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw fileError(path, cause);
  }
}

/** Reads a PEM certificate (FILE_UNREADABLE, CERT_MALFORMED). */
export async function readCertificateFile(path: string): Promise<X509Certificate> {
  const pem = await readTextFile(path, MAX_PEM_BYTES);
  try {
    return parseCertificatePem(pem);
  } catch (cause) {
    throw new PkiError("CERT_MALFORMED", `${path} is not a PEM certificate`, {
      cause,
      details: { path },
    });
  }
}

export interface LoadedKey extends LocalKey {
  readonly certPem: string;
  readonly privateKeyPem: string;
}

/** Reads a certificate and its private key and checks they belong together (KEY_MISSING, KEY_MISMATCH). */
export async function readLocalKey(certPath: string, keyPath: string): Promise<LoadedKey> {
  const certPem = await readTextFile(certPath, MAX_PEM_BYTES);
  const certificate = await readCertificateFile(certPath);
  let privateKeyPem: string;
  let privateKey: LocalKey["privateKey"];
  try {
    privateKeyPem = await readFile(keyPath, "utf8");
    privateKey = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new PkiError("KEY_MISSING", `${keyPath}: no readable private key`, {
      cause,
      details: { path: keyPath },
    });
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new PkiError("KEY_MISMATCH", `${keyPath} is not the key of ${certPath}`, {
      details: { path: keyPath },
    });
  }
  return {
    authorityId: subjectCommonName(certificate) ?? "",
    certificate,
    privateKey,
    certPem,
    privateKeyPem,
  };
}
