import { generateKeyPair, generateKeyPairSync } from "node:crypto";

export interface KeyPairPem {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export const DEFAULT_RSA_BITS = 3072;
export const MIN_RSA_BITS = 2048;

/** An RSA key pair from node:crypto (never from node-forge's generator), PEM encoded. */
export function generateRsaKeyPair(bits: number = DEFAULT_RSA_BITS): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: bits,
    publicExponent: 0x10001,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * The same as generateRsaKeyPair, on libuv's thread pool: several keys generate in parallel and the
 * event loop stays free (3072-bit keys take a while).
 */
export function generateRsaKeyPairAsync(bits: number = DEFAULT_RSA_BITS): Promise<KeyPairPem> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      "rsa",
      {
        modulusLength: bits,
        publicExponent: 0x10001,
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      },
      (err, publicKey, privateKey) => {
        if (err) reject(err);
        else resolve({ privateKeyPem: privateKey, publicKeyPem: publicKey });
      },
    );
  });
}
