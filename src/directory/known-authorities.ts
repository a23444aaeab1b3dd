/**
 * Default profiles for `mlax pki init` / `pki add` when the operator gives no name, languages or
 * competences: a small table of well-known central authorities, otherwise name = id, English.
 * English is accepted by every default profile (UNTOC art. 18(14) lets a state accept further
 * languages; the defaults assume the common working language).
 */
import { REQUEST_KINDS, type RequestKind } from "./schema.ts";

export interface AuthorityProfile {
  readonly name: string;
  readonly languages: readonly string[];
  readonly competences: readonly RequestKind[];
}

const KNOWN: Readonly<Record<string, { name: string; languages: readonly string[] }>> = {
  "ES-MJ": { name: "Spain Ministry of Justice", languages: ["es"] },
  "CO-FGN": { name: "Colombia Fiscalía General de la Nación", languages: ["es"] },
  "IT-MG": { name: "Italy Ministero della Giustizia", languages: ["it"] },
};

export function defaultAuthorityProfile(id: string): AuthorityProfile {
  const known = Object.hasOwn(KNOWN, id) ? KNOWN[id] : undefined;
  const languages = [...(known?.languages ?? []), "en"];
  return {
    name: known?.name ?? id,
    languages: [...new Set(languages)],
    competences: [...REQUEST_KINDS],
  };
}
