/**
 * The envelope layer's public API (DESIGN.md, wire protocol v1): messages, seal/open, receipts,
 * the attachment stream cipher, offline verification and evidence bundles. Other layers import
 * from here; jose stays inside this folder.
 */
export * from "./attachment-stream.ts";
export * from "./compact.ts";
export * from "./digest.ts";
export * from "./evidence.ts";
export * from "./jwe-header.ts";
export * from "./jws.ts";
export * from "./limits.ts";
export * from "./message.ts";
export * from "./new-message.ts";
export * from "./open.ts";
export * from "./receipt.ts";
export * from "./seal.ts";
export type * from "./trust.ts";
export * from "./uuid.ts";
export * from "./verify-message.ts";
