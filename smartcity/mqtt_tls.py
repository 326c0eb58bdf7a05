"""The TLS context every MQTT client of the platform connects with, built from :class:`MqttSettings`.

One place decides it for the simulator's sessions, the gateway and the API's broker link: TLS 1.2 or later, the
broker's certificate verified against ``ca_file`` (the system's CAs when unset) and its name checked against
``host`` (an IP literal matches an IP address SAN), and the client certificate and key presented when given (a
broker with ``require_certificate true`` refuses a client without one, or with one from another CA).

The settings themselves refuse a missing file and a certificate without its key (or TLS off with a certificate
set); a file that does not hold what it should is a :class:`TlsConfigError` naming the setting, raised when the
process builds its clients, before any connection is tried.
"""

from __future__ import annotations

import ssl

from smartcity.settings import MqttSettings


class TlsConfigError(ValueError):
    """A TLS setting names a file that is missing or unusable; the message names the setting and the file."""


def uses_tls(mqtt: MqttSettings) -> bool:
    return mqtt.tls or mqtt.ca_file is not None


def client_context(mqtt: MqttSettings) -> ssl.SSLContext | None:
    """The SSL context for ``mqtt``; None when it connects without TLS."""
    if not uses_tls(mqtt):
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=mqtt.ca_file)
    except ssl.SSLError as exc:
        raise TlsConfigError(f"MQTT__CA_FILE {mqtt.ca_file}: not a PEM CA certificate ({exc.reason})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if mqtt.cert_file is not None and mqtt.key_file is not None:
        try:
            context.load_cert_chain(mqtt.cert_file, mqtt.key_file)
        except ssl.SSLError as exc:
            raise TlsConfigError(
                f"MQTT__CERT_FILE {mqtt.cert_file} / MQTT__KEY_FILE {mqtt.key_file}: not a matching PEM certificate "
                f"and key ({exc.reason})"
            ) from exc
    return context
