/**
 * Attachment names and media types at the edges (src/peer/attachments.ts, steps 1 and 5). A name
 * is display text only, never a path: what a client or a peer sent is reduced to a display name,
 * and a download says it only in an RFC 6266 `Content-Disposition` (RFC 8187 `filename*` plus an
 * ASCII `filename` fallback), for the user to accept or not.
 */
import { attachmentManifestSchema } from "../envelope/message.ts";

const MAX_NAME_UNITS = 255;
const FALLBACK_MEDIA_TYPE = "application/octet-stream";

/**
 * The display name of attachment `index`: the last segment of `raw` after `/` or `\`, NFC, without
 * control, format (bidi overrides, zero-width) or line/paragraph separator characters, trimmed, at
 * most 255 UTF-16 units (never splitting a character); `attachment-<index>` if nothing (or only
 * dots) is left.
 */
export function attachmentDisplayName(raw: string | undefined, index: number): string {
  const segment = (raw ?? "").normalize("NFC").split(/[\\/]/).pop() ?? "";
  let name = segment.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "").trim();
  if (/^\.*$/.test(name)) return `attachment-${index}`;
  if (name.length > MAX_NAME_UNITS) {
    let cut = "";
    for (const ch of name) {
      if (cut.length + ch.length > MAX_NAME_UNITS) break;
      cut += ch;
    }
    name = cut.trimEnd();
  }
  return name;
}

/** The manifest media type of an uploaded part: its `type/subtype` if plain, else octet-stream. */
export function attachmentMediaType(raw: string | undefined): string {
  const type = (raw ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return attachmentManifestSchema.shape.mediaType.safeParse(type).success
    ? type
    : FALLBACK_MEDIA_TYPE;
}

/** RFC 8187 value-chars: attr-char stays, everything else is %-encoded UTF-8. */
function encodeExtValue(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `attachment; filename="<ASCII>"; filename*=UTF-8''<encoded>` for a (peer-supplied) name. */
export function contentDisposition(name: string, index: number): string {
  const display = attachmentDisplayName(name, index);
  const ascii = display.replace(/[^A-Za-z0-9 ._+,()-]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeExtValue(display)}`;
}
