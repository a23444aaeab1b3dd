/**
 * A complete, valid request body (UNTOC 18(15)) to start from: a template for officers and the
 * demo, and a fixture for tests. Fictitious case; every call returns a fresh copy.
 */
import type { RequestBody } from "./request.ts";

export function exampleRequestBody(): RequestBody {
  return {
    kind: "mla",
    caseReference: "DP-2026-0042",
    requestingAuthority: {
      name: "Fiscalía General de la Nación",
      office: "Dirección de Asuntos Internacionales",
      contact: { name: "Ana Pérez", email: "ana.perez@example.org", phone: "+57 1 000 0000" },
    },
    proceedings: {
      subject: "Laundering of the proceeds of drug trafficking by an organised criminal group",
      nature: "investigation",
      conductingAuthority: { name: "Fiscalía 12 Especializada", functions: "public prosecutor" },
    },
    facts:
      "Between 2024 and 2025 the suspect transferred about EUR 2 million from accounts in Bogotá to an account held at a bank in Madrid, in amounts kept below reporting thresholds.",
    assistance: {
      measures: ["provision-of-records", "tracing-proceeds"],
      description:
        "Certified copies of the opening documents and statements of account ES00 0000 0000 0000 0000 from 2024-01-01, and identification of any property bought with its funds.",
      procedure: "Records certified by the bank's custodian of records.",
    },
    persons: [
      {
        role: "suspect",
        name: "John Doe",
        dateOfBirth: "1980-05-17",
        nationalities: ["CO"],
        location: "Madrid, Spain (believed)",
      },
    ],
    purpose: "To establish the flow of funds for the prosecution of money laundering.",
    legalBasis: ["UNTOC art. 18", "Bilateral MLA treaty ES-CO"],
    offences: [
      { name: "Money laundering", legalProvision: "Código Penal art. 323", maxPenaltyYears: 22.5 },
    ],
    language: "es",
    confidentiality: {
      required: true,
      requirement: "Do not inform the account holder of this request (UNTOC 18(20)).",
    },
    urgency: { level: "normal" },
    prioritisation: {
      pretrialDetention: { detained: false },
      evidenceAtRisk: { atRisk: false },
      seriousness: { category: "serious" },
      proceduralStage: "investigation",
    },
  };
}
