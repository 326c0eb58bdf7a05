"""Settings blocks shared by every process. Each process has its own ``BaseSettings`` (env prefix per
component) that nests these plain models; build it in ``main()`` and pass it down."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, FilePath, SecretStr, model_validator


class MqttSettings(BaseModel):
    """Connection to the MQTT 5 broker."""

    host: str = Field(default="::1", description="broker host name or IP literal (IPv6 without brackets)")
    port: int = Field(default=1883, ge=1, le=65535, description="broker TCP port")
    username: str | None = Field(default=None, description="account name (unset: connect without credentials)")
    password: SecretStr | None = Field(default=None, description="account password")
    client_id: str | None = Field(default=None, description="stable client id (persistent sessions need one)")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval in seconds")
    topic_root: str = Field(default="city", description="first topic level of every contract topic")
    tls: bool = Field(
        default=False, description="connect with TLS (MQTT over TLS, port 8883 by convention); on when CA_FILE is set"
    )
    ca_file: FilePath | None = Field(
        default=None, description="PEM file of the CA(s) the broker's certificate must chain to (unset: the system's)"
    )
    cert_file: FilePath | None = Field(
        default=None, description="PEM client certificate, for a broker that requires one (require_certificate)"
    )
    key_file: FilePath | None = Field(default=None, description="PEM private key of CERT_FILE")

    @model_validator(mode="after")
    def _tls_files_fit(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        if self.cert_file is not None and not (self.tls or self.ca_file is not None):
            raise ValueError("cert_file is set but TLS is off: set tls=true or ca_file")
        return self


class InfluxSettings(BaseModel):
    """InfluxDB through the v1 HTTP API (/write line protocol, /query InfluxQL): 1.x, 2.x and 3.x serve it."""

    url: str = Field(default="http://127.0.0.1:8086", description="base URL of the InfluxDB HTTP API")
    database: str = Field(default="city", pattern=r"^[A-Za-z0-9_\-]+$", description="database (2.x: DBRP mapping)")
    retention_policy: str | None = Field(default=None, description="retention policy (unset: the default one)")
    username: str | None = Field(default=None, description="InfluxDB 1.x user (basic auth)")
    password: SecretStr | None = Field(default=None, description="InfluxDB 1.x password")
    token: SecretStr | None = Field(default=None, description="InfluxDB 2.x/3.x token (Authorization: Token ...)")
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="timeout of one HTTP request")
