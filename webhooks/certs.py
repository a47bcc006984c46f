"""The webhook's own certificates: a CA, a serving certificate it signs, and when to renew each. Pure but for keys.

Generation uses ``cryptography`` (ECDSA P-256: milliseconds to generate, accepted by every Kubernetes apiserver).
The schedule is a pure function of the time and the certificates (``plan``), so it is tested without waiting.

How a rotation never breaks a request:

* the apiserver trusts the **bundle** (``ca.crt``: the newest CA first, then every older CA not yet expired), not a
  single CA; a new CA joins the bundle first and signs nothing for ``ca_grace`` (5 min), so every apiserver has
  seen the bundle that trusts it before any certificate it signed is served;
* a serving certificate is renewed when a third of its life is left (a year by default, so months ahead),
  always by the signing CA, which the bundle already holds: new handshakes get the new certificate, open
  connections keep theirs (``webhooks.tls`` reloads the same ``SSLContext``);
* a CA is renewed when a third of its ten years is left and stays in the bundle until it expires.

Secret layout follows cert-controller (what MetalLB uses): ``ca.crt``, ``ca.key``, ``tls.crt``, ``tls.key``; our
``ca.crt`` may hold several CAs (newest first), ``ca.key`` is the newest CA's key.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_COMMON_NAME",
    "CA_ORGANIZATION",
    "CertPolicy",
    "KeyPair",
    "Material",
    "Plan",
    "apply_plan",
    "issue_serving",
    "new_ca",
    "plan",
    "renew_at",
    "split_pem",
]

CA_COMMON_NAME = "cert"  # cert-controller's CA name, as MetalLB sets it
CA_ORGANIZATION = "metallb"
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class CertPolicy:
    """Lifetimes and margins. Every default is a reason, not a guess."""

    ca_validity: datetime.timedelta = 3650 * _DAY
    """Ten years, cert-controller's CA lifetime: CA changes are rare, so bundle changes are rare."""
    cert_validity: datetime.timedelta = 365 * _DAY
    """A year: short enough that rotation is exercised in every long-lived cluster, long enough to survive outages."""
    renew_fraction: float = 1 / 3
    """Renew when this fraction of the lifetime is left: four months of warning for a one-year certificate."""
    ca_grace: datetime.timedelta = datetime.timedelta(minutes=5)
    """A new CA sits in the bundle this long before it signs: apiservers pick a changed caBundle up in seconds."""
    backdate: datetime.timedelta = datetime.timedelta(minutes=5)
    """notBefore is set this far in the past (at most a tenth of the lifetime) so clock skew does not reject it."""
    max_sleep: datetime.timedelta = datetime.timedelta(hours=1)
    """The longest time between two checks, whatever the schedule says (a wrong clock heals within an hour)."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate = field(compare=False, repr=False)

    @classmethod
    def load(cls, cert_pem: bytes, key_pem: bytes) -> KeyPair:
        """Raises ValueError when the PEM is unreadable."""
        return cls(cert_pem, key_pem, x509.load_pem_x509_certificate(cert_pem))

    @property
    def not_before(self) -> datetime.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def signed(self, other: x509.Certificate) -> bool:
        """Whether ``other`` was signed by this (CA) certificate."""
        try:
            other.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def hosts(self) -> frozenset[str]:
        try:
            san = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return frozenset()
        return frozenset(
            [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]
        )


@dataclass(frozen=True)
class Material:
    """What the Secret holds: CAs newest first (only the first has a key), and the serving pair."""

    cas: tuple[KeyPair, ...] = ()
    serving: KeyPair | None = None

    @property
    def bundle(self) -> bytes:
        """The caBundle: every CA, newest first."""
        return b"".join(ca.cert_pem for ca in self.cas)

    def to_secret_data(self) -> dict[str, bytes]:
        if not self.cas or self.serving is None:
            raise ValueError("incomplete material")
        return {
            "ca.crt": self.bundle,
            "ca.key": self.cas[0].key_pem,
            "tls.crt": self.serving.cert_pem,
            "tls.key": self.serving.key_pem,
        }

    @classmethod
    def from_secret_data(cls, data: dict[str, bytes]) -> Material:
        """Read a Secret's (decoded) data; whatever is missing or unreadable is left out, to be regenerated."""
        cas: list[KeyPair] = []
        try:
            certs = split_pem(data.get("ca.crt", b""))
            for i, pem in enumerate(certs):
                cas.append(KeyPair.load(pem, data.get("ca.key", b"") if i == 0 else b""))
        except ValueError:
            cas = []
        if cas and not _key_matches(cas[0]):
            cas = []
        serving = None
        try:
            if data.get("tls.crt") and data.get("tls.key"):
                serving = KeyPair.load(data["tls.crt"], data["tls.key"])
                if not _key_matches(serving):
                    serving = None
        except ValueError:
            serving = None
        return cls(tuple(cas), serving)


def split_pem(blob: bytes) -> list[bytes]:
    """The PEM certificates in a bundle, in order."""
    marker = b"-----END CERTIFICATE-----"
    out = []
    for part in blob.split(marker):
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            out.append(part[start:] + marker + b"\n")
    return out


def _key_matches(pair: KeyPair) -> bool:
    try:
        key = serialization.load_pem_private_key(pair.key_pem, password=None)
    except (ValueError, TypeError):
        return False
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return bool(key.public_key().public_bytes(enc, pub) == pair.cert.public_key().public_bytes(enc, pub))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _window(
    now: datetime.datetime, validity: datetime.timedelta, policy: CertPolicy
) -> tuple[datetime.datetime, datetime.datetime]:
    back = min(policy.backdate, validity / 10)
    return now - back, now + validity


def new_ca(now: datetime.datetime, policy: CertPolicy = CertPolicy()) -> KeyPair:
    """A self-signed CA (CN ``cert``, O ``metallb``, as cert-controller names MetalLB's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
        ]
    )
    start, end = _window(now, policy.ca_validity, policy)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), cert)


def _common_name(host: str) -> str:
    """X.509 caps a CN at 64 characters; ``<service>.<namespace>.svc`` passes that with a namespace of 37 or more.
    Clients match the SANs (they hold every host), so a long name's first label serves as the CN."""
    return host if len(host) <= 64 else host.split(".", 1)[0][:64]


def issue_serving(
    ca: KeyPair, hosts: Sequence[str], now: datetime.datetime, policy: CertPolicy = CertPolicy()
) -> KeyPair:
    """A serving certificate for ``hosts`` (DNS names or IP addresses), signed by ``ca``, never outliving it."""
    if not hosts:
        raise ValueError("a serving certificate needs at least one host")
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    start, end = _window(now, policy.cert_validity, policy)
    end = min(end, ca.not_after)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(hosts[0]))]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), cert)


def renew_at(pair: KeyPair, fraction: float) -> datetime.datetime:
    """When ``fraction`` of the certificate's life is left."""
    return pair.not_after - (pair.not_after - pair.not_before) * fraction


@dataclass(frozen=True)
class Plan:
    """What to do now (add a CA, issue a serving certificate from the newest CA) and when to look again."""

    new_ca: bool
    new_cert: bool
    next_check: datetime.datetime
    reason: str = ""


def _trusted_since(ca: KeyPair, policy: CertPolicy) -> datetime.datetime:
    """When a CA was created (its notBefore is backdated) plus the grace: from then on it may sign."""
    return ca.not_before + min(policy.backdate, policy.ca_validity / 10) + policy.ca_grace


def plan(now: datetime.datetime, material: Material, hosts: Sequence[str], policy: CertPolicy = CertPolicy()) -> Plan:
    """The rotation schedule as a pure function of the time and the certificates.

    Only the newest CA's key is kept, so only the newest CA signs. A new CA that is still in its grace period
    signs only when the served certificate is unusable anyway (missing, expired, untrusted, wrong hosts); a
    renewal that falls due during the grace waits for its end (minutes, against months of remaining validity).
    """
    valid = [ca for ca in material.cas if ca.not_after > now]
    newest = valid[0] if valid and valid[0].key_pem else None
    reasons = []
    new_ca_needed = newest is None or renew_at(newest, policy.renew_fraction) <= now
    if new_ca_needed:
        reasons.append("no usable CA" if newest is None else "CA due for renewal")
        # A CA that is the only one trusted anything nothing relied on: it may sign at once.
        may_sign = not valid
        signer_ready_at = now + policy.ca_grace
    else:
        assert newest is not None
        signer_ready_at = _trusted_since(newest, policy)
        may_sign = len(valid) == 1 or signer_ready_at <= now

    serving = material.serving
    bundle = valid  # a new CA only adds to what is trusted
    usable = (
        serving is not None
        and serving.not_after > now
        and any(ca.signed(serving.cert) for ca in bundle)
        and set(hosts) <= serving.hosts()
    )
    current = (
        usable and serving is not None and newest is not None and not new_ca_needed and newest.signed(serving.cert)
    )
    new_cert = False
    if not usable:
        new_cert = True
        reasons.append("serving certificate missing, expired, untrusted or for other hosts")
    elif may_sign and serving is not None and renew_at(serving, policy.renew_fraction) <= now:
        new_cert = True
        reasons.append("serving certificate due for renewal")
    elif may_sign and not current:
        new_cert = True
        reasons.append("serving certificate signed by an older CA")

    checks = [now + policy.max_sleep, *(ca.not_after for ca in valid)]
    if not new_ca_needed and newest is not None:
        checks.append(renew_at(newest, policy.renew_fraction))
    if not may_sign or new_ca_needed:
        checks.append(signer_ready_at)
    if serving is not None and not new_cert:
        checks.append(renew_at(serving, policy.renew_fraction))
    future = [t for t in checks if t > now]
    return Plan(new_ca_needed, new_cert, min(future) if future else now + policy.max_sleep, "; ".join(reasons))


def apply_plan(
    material: Material, decided: Plan, now: datetime.datetime, hosts: Sequence[str], policy: CertPolicy = CertPolicy()
) -> Material:
    """The material after carrying out ``decided``: expired CAs dropped, a new CA first, a new serving pair signed
    by the newest CA. Generates keys: the only impure step."""
    cas = [ca for ca in material.cas if ca.not_after > now]
    if decided.new_ca:
        cas.insert(0, new_ca(now, policy))
    serving = issue_serving(cas[0], hosts, now, policy) if decided.new_cert else material.serving
    return Material(tuple(cas), serving)
