"""A throwaway certificate authority for TLS in development and tests.

    authority = make_local_authority(folder)
    authority.ca_file        # PEM: the CA certificate a client trusts (kafka.ssl_ca_file)
    authority.keystore_file  # PEM: the server's key (PKCS#8, unencrypted) and its chain

The server certificate names 127.0.0.1 and localhost, so a client that checks the host name
(as aiokafka's default SSL context does) accepts it. Made with the `openssl` command, which
the machines have; the keys never leave `folder`, and both certificates expire in two days.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = "2"
RSA_BITS = "rsa:2048"  # RSA: every JVM's PEM key reader takes it
OPENSSL_TIMEOUT_S = 60.0

# Strict verifiers (Python 3.13's VERIFY_X509_STRICT, Java) want key usage and key ids set.
CA_EXTENSIONS = (
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
)
SERVER_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
)


class CertificateError(RuntimeError):
    """openssl is missing or refused to make a key or certificate."""


@dataclass(frozen=True)
class LocalAuthority:
    ca_file: Path
    keystore_file: Path


def make_local_authority(folder: Path) -> LocalAuthority:
    """A new CA and a server certificate it signed, written under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = folder / "ca.key", folder / "ca.pem"
    server_key, server_csr = folder / "server.key", folder / "server.csr"
    server_file, extensions = folder / "server.pem", folder / "server.ext"
    _openssl(
        *("req", "-x509", "-newkey", RSA_BITS, "-nodes", "-days", VALID_DAYS),
        *("-subj", "/CN=betting local CA", "-keyout", str(ca_key), "-out", str(ca_file)),
        *(arg for extension in CA_EXTENSIONS for arg in ("-addext", extension)),
    )
    _openssl(
        *("req", "-new", "-newkey", RSA_BITS, "-nodes", "-subj", "/CN=127.0.0.1"),
        *("-keyout", str(server_key), "-out", str(server_csr)),
    )
    extensions.write_text("".join(f"{line}\n" for line in SERVER_EXTENSIONS))
    _openssl(
        *("x509", "-req", "-in", str(server_csr), "-days", VALID_DAYS, "-set_serial", "2"),
        *("-CA", str(ca_file), "-CAkey", str(ca_key), "-extfile", str(extensions)),
        *("-out", str(server_file)),
    )
    # Kafka's PEM keystore: the private key, then the chain from the server up to the CA.
    keystore = folder / "server-keystore.pem"
    keystore.write_text(server_key.read_text() + server_file.read_text() + ca_file.read_text())
    keystore.chmod(0o600)
    return LocalAuthority(ca_file=ca_file, keystore_file=keystore)


def _openssl(*arguments: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError("`openssl` is not on PATH: apt-get install openssl")
    result = subprocess.run(
        [openssl, *arguments],
        capture_output=True,
        text=True,
        timeout=OPENSSL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise CertificateError(f"openssl {arguments[0]} failed:\n{result.stderr.strip()}")
