"""Signing credentials for C2PA: a configured certificate chain + key, or a local development CA.

The development CA lives in `<data_dir>/c2pa-dev/`; its leaf certificate carries the emailProtection EKU,
which the C2PA SDK accepts for signing. Images signed with it validate as "valid" but not "trusted"
anywhere else, and we say so. A configured certificate that is missing, unreadable, expired or not yet
valid raises SigningError: we never fall back to writing an unsigned image.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from limner.provenance.errors import ProvenanceError
from limner.provenance.settings import ProvenanceSettings

DEV_NOTICE = (
    "limner: signing C2PA manifests with a local development certificate ({path}); "
    "other verifiers will report it as untrusted. Configure cert_path/key_path for production."
)


class SigningError(ProvenanceError):
    """Signing cannot proceed; the message names the certificate or key at fault."""


@dataclass(frozen=True)
class SigningCredentials:
    """A certificate chain and its key, as `load_credentials` returns them: checked to match and to be valid.

    `anchors_pem` holds the CA certificates our own verify trusts (the development CA and any configured
    anchors); `not_after` is when the leaf expires, after which the stage reloads the credentials.
    """

    chain_pem: bytes  # leaf first, then intermediates (and the dev CA)
    key_pem: bytes
    anchors_pem: str | None  # CA certificates that our own verify treats as trusted
    is_dev: bool
    not_after: dt.datetime
    subject: str


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with owner-only permissions, so a crash never leaves half a key."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def create_dev_ca(directory: Path, *, leaf_days: int = 825, now: dt.datetime | None = None) -> None:
    """Create ca.pem/ca.key (10 years) and signer.pem/signer.key (leaf_days) in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or _utcnow()
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "limner development CA (untrusted)"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "limner")])
    ku_ca = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(ku_ca, critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "limner development signer"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "limner")])
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False)
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=leaf_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(ku, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pkcs8 = serialization.PrivateFormat.PKCS8
    nocrypt = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    _write_private(directory / "ca.key", ca_key.private_bytes(pem, pkcs8, nocrypt))
    _write_private(directory / "signer.key", key.private_bytes(pem, pkcs8, nocrypt))
    _write_private(directory / "ca.pem", ca.public_bytes(pem))
    # the chain the signer embeds: leaf, then the CA
    _write_private(directory / "signer.pem", leaf.public_bytes(pem) + ca.public_bytes(pem))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"{what} {path} does not exist") from None
    except OSError as e:
        raise SigningError(f"{what} {path} cannot be read: {e.strerror}") from None


def _check_chain(chain_pem: bytes, key_pem: bytes, cert_path: Path, key_path: Path) -> tuple[dt.datetime, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as e:
        raise SigningError(f"certificate {cert_path} is not a PEM certificate chain: {e}") from None
    leaf = certs[0]
    now = _utcnow()
    if leaf.not_valid_after_utc < now:
        raise SigningError(f"certificate {cert_path} expired on {leaf.not_valid_after_utc.isoformat()}; "
                           "renew it before signing")
    if leaf.not_valid_before_utc > now:
        raise SigningError(f"certificate {cert_path} is not valid until {leaf.not_valid_before_utc.isoformat()}")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise SigningError(f"private key {key_path} cannot be loaded: {e}") from None
    pub = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if pub != leaf.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SigningError(f"private key {key_path} does not match certificate {cert_path}")
    return leaf.not_valid_after_utc, leaf.subject.rfc4514_string()


def load_credentials(settings: ProvenanceSettings) -> SigningCredentials:
    """The signing chain + key for `settings`, creating the development CA on first use."""
    if settings.uses_dev_ca:
        d = settings.dev_ca_dir
        if not (d / "signer.pem").exists() or not (d / "signer.key").exists() or not (d / "ca.pem").exists():
            create_dev_ca(d)
        cert_path, key_path = d / "signer.pem", d / "signer.key"
        chain, key = _read(cert_path, "certificate"), _read(key_path, "private key")
        try:
            not_after, subject = _check_chain(chain, key, cert_path, key_path)
        except SigningError:
            create_dev_ca(d)  # an expired development leaf is simply replaced, with a new CA
            chain, key = _read(cert_path, "certificate"), _read(key_path, "private key")
            not_after, subject = _check_chain(chain, key, cert_path, key_path)
        anchors = _read(d / "ca.pem", "CA certificate").decode()
        if settings.trust_anchors_path is not None:
            anchors += _read(settings.trust_anchors_path, "trust anchors").decode()
        return SigningCredentials(chain, key, anchors, True, not_after, subject)
    assert settings.cert_path is not None and settings.key_path is not None
    chain, key = _read(settings.cert_path, "certificate"), _read(settings.key_path, "private key")
    not_after, subject = _check_chain(chain, key, settings.cert_path, settings.key_path)
    configured = _read(settings.trust_anchors_path, "trust anchors").decode() if settings.trust_anchors_path else None
    return SigningCredentials(chain, key, configured, False, not_after, subject)


def trust_anchors(settings: ProvenanceSettings) -> str | None:
    """PEM anchors for verification, without creating anything: verify must have no side effects."""
    parts: list[str] = []
    if settings.uses_dev_ca and (settings.dev_ca_dir / "ca.pem").exists():
        parts.append((settings.dev_ca_dir / "ca.pem").read_text())
    if settings.trust_anchors_path is not None and settings.trust_anchors_path.exists():
        parts.append(settings.trust_anchors_path.read_text())
    return "".join(parts) or None
