/**
 * Loads what an authority needs to act, from the certs/ layout: the network CA, the verified
 * directory (with rollback protection against the highest serial seen before) and the authority's
 * own sign / enc / tls keys, each checked against its certificate and its pin in the directory.
 * Used by `mlax node start` and by the offline CLI commands.
 */
import type { X509Certificate } from "node:crypto";
import {
  type CertsLayout,
  certsLayout,
  type LoadedKey,
  readCertificateFile,
  readLocalKey,
  readTextFile,
} from "../cli/files.ts";
import { directoryTrust } from "../directory/directory-trust.ts";
import { type Directory, loadDirectory } from "../directory/load-directory.ts";
import { DIRECTORY_LIMITS } from "../directory/schema.ts";
import type { TrustView } from "../envelope/trust.ts";
import { ConfigError, isMlaxError } from "../errors.ts";
import { certificateSha256 } from "../pki/fingerprint.ts";
import { AUTHORITY_ROLES, type AuthorityRole } from "../pki/roles.ts";
import { validateCertificate } from "../pki/validate-certificate.ts";

export interface NetworkTrust {
  readonly layout: CertsLayout;
  readonly ca: X509Certificate;
  readonly directory: Directory;
  readonly trust: TrustView;
}

export async function loadNetworkTrust(
  certsDir: string,
  options: { now: Date; minSerial?: number; allowStale?: boolean },
): Promise<NetworkTrust> {
  const layout = certsLayout(certsDir);
  const ca = await readCertificateFile(layout.caCert);
  const jws = (await readTextFile(layout.directoryJws, DIRECTORY_LIMITS.maxJwsChars)).trim();
  const directory = await loadDirectory(jws, {
    ca,
    now: options.now,
    minSerial: options.minSerial,
    allowStale: options.allowStale,
  });
  return { layout, ca, directory, trust: directoryTrust(directory, { ca }) };
}

export type AuthorityKeys = Readonly<Record<AuthorityRole, LoadedKey>>;

/**
 * Reads the authority's three key pairs and checks each certificate: issued by the CA for its
 * role, valid now, not revoked, and pinned in the directory for this authority (so a node never
 * signs with a key its peers would refuse).
 */
export async function loadAuthorityKeys(
  network: NetworkTrust,
  authorityId: string,
  now: Date,
): Promise<AuthorityKeys> {
  const entry = network.directory.findAuthority(authorityId);
  if (!entry) {
    throw new ConfigError(
      "AUTHORITY_UNKNOWN",
      `${authorityId} is not in the directory (serial ${network.directory.serial}); add it with \`mlax pki add ${authorityId}\``,
    );
  }
  const keys: Partial<Record<AuthorityRole, LoadedKey>> = {};
  for (const role of AUTHORITY_ROLES) {
    const key = await readLocalKey(
      network.layout.authorityFile(authorityId, role, "crt"),
      network.layout.authorityFile(authorityId, role, "key"),
    );
    try {
      validateCertificate(key.certificate, {
        ca: network.ca,
        role,
        at: now,
        revokedSerials: network.directory.revokedSerials,
        expectedCommonName: authorityId,
      });
    } catch (cause) {
      throw new ConfigError(
        isMlaxError(cause) ? cause.code : "CONFIG_INVALID",
        `the ${role} certificate of ${authorityId} is not usable: ${(cause as Error).message}`,
        { cause },
      );
    }
    const sha256 = certificateSha256(key.certificate);
    if (!entry.certificates.some((c) => c.role === role && c.sha256 === sha256)) {
      throw new ConfigError(
        "CONFIG_INVALID",
        `the ${role} certificate of ${authorityId} is not the one pinned in the directory`,
      );
    }
    keys[role] = key;
  }
  return keys as AuthorityKeys;
}
