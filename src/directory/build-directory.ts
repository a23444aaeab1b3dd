/**
 * Signs a directory edition (format in schema.ts): the content is checked against the schema, then
 * signed as `{alg: PS256, typ: mlax-directory+jws, x5c: [signer, CA]}`.
 */
import type { X509Certificate } from "node:crypto";
import { signJws } from "../envelope/jws.ts";
import type { LocalKey } from "../envelope/trust.ts";
import { DirectoryError } from "../errors.ts";
import { validateCertificate } from "../pki/validate-certificate.ts";
import {
  DIRECTORY_TYP,
  type DirectoryContent,
  directoryContentSchema,
  summarizeIssues,
} from "./schema.ts";

export interface SignDirectoryOptions {
  /** The directory signer: a `directory`-role certificate issued by `ca`, and its private key. */
  readonly signer: LocalKey;
  /** The network CA, carried as x5c[1] for offline readers. */
  readonly ca: X509Certificate;
}

/** The exact bytes that are signed: the schema-checked content as JSON. */
export function encodeDirectoryPayload(content: DirectoryContent): Uint8Array {
  const parsed = directoryContentSchema.safeParse(content);
  if (!parsed.success) {
    throw new DirectoryError("DIRECTORY_MALFORMED", summarizeIssues(parsed.error), {
      cause: parsed.error,
    });
  }
  return new TextEncoder().encode(JSON.stringify(parsed.data));
}

/**
 * Signs a directory edition. Refuses a signer that is not a valid directory signer at `issuedAt`
 * (DIRECTORY_SIGNATURE_INVALID): an edition no node would accept is never written.
 */
export async function signDirectory(
  content: DirectoryContent,
  options: SignDirectoryOptions,
): Promise<string> {
  const payload = encodeDirectoryPayload(content);
  try {
    validateCertificate(options.signer.certificate, {
      ca: options.ca,
      role: "directory",
      at: new Date(content.issuedAt),
    });
  } catch (cause) {
    throw new DirectoryError(
      "DIRECTORY_SIGNATURE_INVALID",
      "the signer is not a valid directory signer of this CA",
      { cause },
    );
  }
  return signJws(payload, { typ: DIRECTORY_TYP, key: options.signer, chain: [options.ca] });
}
