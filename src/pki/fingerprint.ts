import { createHash, type X509Certificate } from "node:crypto";

/** Lowercase hex SHA-256 of the certificate DER: the pin the directory carries. */
export function certificateSha256(cert: X509Certificate): string {
  return createHash("sha256").update(cert.raw).digest("hex");
}

/** base64url SHA-256 of the certificate DER (the JOSE `x5t#S256` form). */
export function certificateThumbprintS256(cert: X509Certificate): string {
  return createHash("sha256").update(cert.raw).digest("base64url");
}

/** Serial number as uppercase hex without leading zeros, the form the directory lists. */
export function normalizeSerial(serial: string): string {
  const s = serial
    .replace(/[:\s]/g, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
  return s;
}
