#!/usr/bin/python3
"""An independent JOSE implementation for tests/conformance/jwcrypto-interop.test.ts.

Runs with Debian's python3-jwcrypto (and python3-cryptography, which jwcrypto depends on):
call it as /usr/bin/python3, not a pyenv python without those packages.

  open --envelope FILE --enc-key PEM --ca PEM
      Decrypts an mlax envelope (JWE compact, RSA-OAEP-256/A256GCM only), verifies the inner
      PS256 JWS with the public key of its x5c[0] certificate (read with cryptography's x509,
      never a key from the header), checks x5c[0] is signed by the CA, and prints JSON:
      {"jweHeader", "jwsHeader", "jws", "payload", "signerSubject", "signerIssuedByCa"}.
      Exits 3 when jwcrypto refuses the envelope or the signature.

  seal --message FILE --sign-key PEM --sign-cert PEM --ca PEM --recipient-cert PEM
       [--alg RSA-OAEP-256] [--enc A256GCM] [--zip]
      Signs the message file's bytes as a PS256 JWS with mlax's header
      {alg, typ: "mlax-message+jws", x5c: [sign cert, CA]} and encrypts it as a JWE with
      {alg, enc, typ: "mlax-envelope+jwe", "x5t#S256"} (plus zip when asked, for hostile cases).
      Prints JSON: {"envelope", "jws"}.
"""
import argparse
import base64
import hashlib
import json
import os
import sys

# This file is named like the package it tests: keep its own folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from jwcrypto import jwe, jwk, jws  # noqa: E402
from jwcrypto.common import JWException  # noqa: E402

#: Exit status when jwcrypto refuses the input (bad tag, signature, algorithm…).
REFUSED = 3
MESSAGE_TYP = "mlax-message+jws"
ENVELOPE_TYP = "mlax-envelope+jwe"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_of(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def issued_by(cert, ca):
    """True when `ca`'s key made `cert`'s signature (RSA PKCS #1 v1.5, as the network CA signs)."""
    try:
        ca.public_key().verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PKCS1v15(),
            cert.signature_hash_algorithm,
        )
        return True
    except Exception:  # noqa: BLE001 - any failure means "not issued by"
        return False


def open_envelope(args):
    enc_key = jwk.JWK.from_pem(read(args.enc_key))
    ca = x509.load_pem_x509_certificate(read(args.ca))
    outer = jwe.JWE()
    outer.allowed_algs = ["RSA-OAEP-256", "A256GCM"]
    outer.deserialize(read(args.envelope).decode("ascii").strip(), key=enc_key)
    jwe_header = json.loads(outer.objects["protected"])
    inner_token = outer.payload.decode("utf-8")

    inner = jws.JWS()
    inner.allowed_algs = ["PS256"]
    inner.deserialize(inner_token)
    jws_header = inner.jose_header
    x5c = jws_header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise SystemExit("the inner JWS has no x5c")
    signer = x509.load_der_x509_certificate(base64.b64decode(x5c[0]))
    inner.verify(jwk.JWK.from_pyca(signer.public_key()))
    print(
        json.dumps(
            {
                "jweHeader": jwe_header,
                "jwsHeader": jws_header,
                "jws": inner_token,
                "payload": json.loads(inner.payload.decode("utf-8")),
                "signerSubject": signer.subject.rfc4514_string(),
                "signerIssuedByCa": issued_by(signer, ca),
            }
        )
    )


def seal_envelope(args):
    sign_key = jwk.JWK.from_pem(read(args.sign_key))
    sign_cert = x509.load_pem_x509_certificate(read(args.sign_cert))
    ca = x509.load_pem_x509_certificate(read(args.ca))
    recipient = x509.load_pem_x509_certificate(read(args.recipient_cert))

    signed = jws.JWS(read(args.message))
    signed.allowed_algs = ["PS256"]
    signed.add_signature(
        sign_key,
        alg="PS256",
        protected=json.dumps(
            {
                "alg": "PS256",
                "typ": MESSAGE_TYP,
                "x5c": [base64.b64encode(der_of(c)).decode("ascii") for c in (sign_cert, ca)],
            }
        ),
    )
    inner_token = signed.serialize(compact=True)

    header = {
        "alg": args.alg,
        "enc": args.enc,
        "typ": ENVELOPE_TYP,
        "x5t#S256": b64url(hashlib.sha256(der_of(recipient)).digest()),
    }
    if args.zip:
        header["zip"] = "DEF"
    outer = jwe.JWE(inner_token.encode("utf-8"), protected=json.dumps(header))
    outer.allowed_algs = [args.alg, args.enc]
    outer.add_recipient(jwk.JWK.from_pyca(recipient.public_key()))
    print(json.dumps({"envelope": outer.serialize(compact=True), "jws": inner_token}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    o = commands.add_parser("open")
    o.add_argument("--envelope", required=True)
    o.add_argument("--enc-key", required=True)
    o.add_argument("--ca", required=True)
    s = commands.add_parser("seal")
    s.add_argument("--message", required=True)
    s.add_argument("--sign-key", required=True)
    s.add_argument("--sign-cert", required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--recipient-cert", required=True)
    s.add_argument("--alg", default="RSA-OAEP-256")
    s.add_argument("--enc", default="A256GCM")
    s.add_argument("--zip", action="store_true")
    args = parser.parse_args()
    try:
        if args.command == "open":
            open_envelope(args)
        else:
            seal_envelope(args)
    except JWException as e:
        print(f"refused by jwcrypto: {type(e).__name__}: {e}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
