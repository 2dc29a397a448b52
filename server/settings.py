"""Server settings from the environment (prefix ``PINGANLING_``), built at start-up.

Nothing here runs at import: call ``Settings()`` in the application's lifespan. Durations
are ISO 8601 (``PT72H``, ``P400D``) or ``[D days, ]HH:MM:SS``.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.contract import DEFAULT_ROOT, Service, Topics
from kernel.services.broker import BrokerAddress
from kernel.services.dynsec import Login
from server.auth.throttle import LoginLimits
from server.store.config import BackendChoice, StoreConfig

DEFAULT_HTTP_MAX_BODY = 256 * 1024
Identity = Literal["ingest", "presence", "api", "monitor", "admin"]


class Settings(BaseSettings):
    """Typed server configuration; see README for each variable."""

    model_config = SettingsConfigDict(env_prefix="PINGANLING_", frozen=True, extra="ignore")

    # --- database
    database_url: str | None = Field(
        default=None,
        description="libpq URL or conninfo; unset: the local server at 127.0.0.1:5432 "
                    "(database 'pinganling'), else a private cluster under data_dir",
    )
    database_schema: str | None = Field(
        default=None, description="schema to keep every table in (search_path); unset: "
                                  "the URL's own search_path, usually public")
    data_dir: Path = Path("var")
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=8, ge=1)
    storage_backend: BackendChoice = BackendChoice.AUTO

    # --- HTTP
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_max_body: int = Field(default=DEFAULT_HTTP_MAX_BODY, ge=1, description="largest "
                               "request body in bytes; a larger one is refused with 413")
    http_tls_cert: Path | None = Field(default=None, description="certificate (chain) to serve "
                                       "HTTPS with; with http_tls_key")
    http_tls_key: Path | None = None

    # --- gateway enrolment
    claim_ttl: timedelta = Field(default=timedelta(hours=24), description="a claim code is "
                                 "good this long")
    claim_attempts: int = Field(default=10, ge=1, description="wrong claim codes one address "
                                "may send per 10 minutes (then 429)")

    # --- MQTT and ingest
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_tls: bool = Field(default=False, description="connect to the broker over TLS")
    mqtt_ca_file: Path | None = Field(default=None, description="CA certificate(s) to verify "
                                      "the broker with (also given to provisioned gateways); "
                                      "unset: the system's trusted CAs")
    # Each server client logs in as its own identity (see README "The broker"); one without
    # its own uses mqtt_username (a single-identity broker, the tests' privileged identity).
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ingest_username: str | None = None
    mqtt_ingest_password: SecretStr | None = None
    mqtt_presence_username: str | None = None
    mqtt_presence_password: SecretStr | None = None
    mqtt_api_username: str | None = None
    mqtt_api_password: SecretStr | None = None
    mqtt_monitor_username: str | None = Field(default=None, description="a read-only identity "
                                              "for `pinganling monitor`, created like the others")
    mqtt_monitor_password: SecretStr | None = None
    mqtt_admin_username: str | None = Field(default=None, description="the dynamic-security "
                                            "plugin's administrator: gateway identities and "
                                            "the services' own; never used for data")
    mqtt_admin_password: SecretStr | None = None
    mqtt_public_host: str | None = Field(default=None, description="the broker as gateways "
                                         "reach it (their credential bundle); unset: mqtt_host")
    mqtt_public_port: int | None = None
    mqtt_root: str = Field(default=DEFAULT_ROOT, description="topic root of the contract")
    ingest_workers: int = Field(default=2, ge=1, description="telemetry ingest processes on "
                                "one shared subscription")
    ingest_event_workers: int = Field(default=1, ge=1, description="event (alarm) ingest "
                                      "processes, apart from telemetry")
    ingest_group: str = "ingest"
    node_id: str = Field(default_factory=lambda: socket.gethostname().split(".")[0].lower()[:32],
                         pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="this server node's "
                         "name, part of its MQTT client ids (default: the host name)")
    ingest_batch_rows: int = Field(default=2000, ge=1)
    ingest_max_age: timedelta = timedelta(milliseconds=200)
    ingest_queue: int = Field(default=20_000, ge=100, description="per-worker bound; a full "
                              "queue stops reading from the broker (back-pressure)")

    # --- retention and housekeeping
    acc_retention: timedelta = timedelta(hours=72)
    vitals_retention: timedelta = timedelta(days=400)
    activity_retention: timedelta = timedelta(days=400)
    device_health_retention: timedelta = timedelta(days=400)
    rollup_retention: timedelta | None = None
    acc_compress_after: timedelta = timedelta(days=1)
    compress_after: timedelta = timedelta(days=7)
    acc_partitions_ahead: int = Field(default=6, ge=1)
    partitions_ahead: int = Field(default=2, ge=1)
    maintenance_every: timedelta = timedelta(minutes=5)
    supervision_every: timedelta = timedelta(seconds=15)

    # --- care calls (主动关爱)
    care_call_missed: Literal["visit", "alert"] = Field(
        default="visit", description="two unanswered care calls in a row: an urgent visit "
        "task for the grid (visit) or a P2 welfare-check alert in the queue (alert)")

    # --- alerts
    alert_unclaimed: timedelta = Field(default=timedelta(seconds=60), description="P1/P2 not "
                                       "claimed within this are escalated to supervisors")
    alert_remind: timedelta = Field(default=timedelta(minutes=15), description="claimed but "
                                    "unresolved this long: the holder is reminded")
    gateway_offline_grace: timedelta = Field(default=timedelta(minutes=2), description="a "
                                             "gateway offline this long opens a P3 alert")
    escalation_every: timedelta = timedelta(seconds=1)

    # --- maintenance (server.maintenance)
    self_test_period: timedelta = Field(default=timedelta(days=7), description="each pendant "
                                        "and button is tested (pressed) this often")
    self_test_grace: timedelta = Field(default=timedelta(days=1), description="a self-test "
                                       "this late opens a work order")
    work_order_due: timedelta = Field(default=timedelta(hours=2), description="a work order "
                                      "is due this long after it is opened")
    installation_test_window: timedelta = Field(default=timedelta(minutes=5), description="an "
                                                "installation test fails without a press "
                                                "within this")
    command_timeout: timedelta = Field(default=timedelta(seconds=30), description="a console "
                                       "command without a result this long timed out")
    maintenance_checks_every: timedelta = timedelta(seconds=5)
    low_battery_pct: int = Field(default=20, ge=0, le=100, description="at or below: needs "
                                 "attention")
    weak_rssi_dbm: int = Field(default=-90, description="at or below: weak signal")

    # --- detectors
    detectors: bool = Field(default=True, description="run the fall / vital-sign / inactivity "
                            "detectors in this server process")
    detector_every: timedelta = timedelta(seconds=1)
    inactivity_learn_every: timedelta = timedelta(days=1)
    fall_cancel_window: timedelta = Field(default=timedelta(seconds=30), description="a fall "
                                          "the server detects: its wearer is alerted and may "
                                          "cancel it this long")
    maintenance_lock_timeout: timedelta = timedelta(seconds=2)

    # --- sign-in (server.auth.throttle)
    login_account_failures: int = Field(default=5, ge=1, description="failed sign-ins of one "
                                        "account that cost nothing; then each attempt waits")
    login_address_failures: int = Field(default=20, ge=1, description="the same for one "
                                        "source address, over every account")
    login_first_delay: timedelta = Field(default=timedelta(seconds=2), description="the "
                                         "first wait; each further failure doubles it")
    login_max_delay: timedelta = timedelta(minutes=15)
    login_forget_after: timedelta = Field(default=timedelta(hours=1), description="failures "
                                          "are forgotten this long after the last one")
    # --- privacy
    access_log_retention: timedelta = Field(
        default=timedelta(days=400), description="access-log rows are kept this long (at "
        "least 183 days, P183D; the retention job deletes older ones)")

    @model_validator(mode="after")
    def _access_log_kept_six_months(self) -> Settings:
        if self.access_log_retention < timedelta(days=183):
            raise ValueError("access_log_retention must be at least P183D (six months)")
        return self

    @model_validator(mode="after")
    def _sane_login_limits(self) -> Settings:
        self.login_limits()  # raises ValueError when they do not fit together
        return self

    def login_limits(self) -> LoginLimits:
        return LoginLimits(self.login_account_failures, self.login_address_failures,
                           self.login_first_delay, self.login_max_delay,
                           self.login_forget_after)

    def broker(self, identity: Identity = "api") -> BrokerAddress:
        """The broker, logged in as ``identity`` (default: the API's, which publishes down/
        config and commands): its own username when configured, else ``mqtt_username``."""
        username = getattr(self, f"mqtt_{identity}_username")
        password: SecretStr | None = getattr(self, f"mqtt_{identity}_password")
        if not username and identity != "admin":
            username, password = self.mqtt_username, self.mqtt_password
        return BrokerAddress(self.mqtt_host, self.mqtt_port, username,
                             password.get_secret_value() if password else None,
                             self.mqtt_tls, self.mqtt_ca_file)

    def broker_admin(self) -> Login | None:
        """The dynamic-security administrator, when configured (else no provisioning)."""
        if not self.mqtt_admin_username or self.mqtt_admin_password is None:
            return None
        return Login(self.mqtt_admin_username, self.mqtt_admin_password.get_secret_value())

    def service_logins(self) -> dict[Service, Login]:
        """The services' own identities that are configured (made in the broker at start-up
        when the administrator is)."""
        found = {}
        for service in Service:
            username = getattr(self, f"mqtt_{service.value}_username")
            password: SecretStr | None = getattr(self, f"mqtt_{service.value}_password")
            if username and password is not None:
                found[service] = Login(username, password.get_secret_value())
        return found

    def uvicorn_tls(self) -> dict[str, Any]:
        """uvicorn's options for HTTPS (none without a certificate)."""
        if self.http_tls_cert is None:
            return {}
        if self.http_tls_key is None:
            raise ValueError("PINGANLING_HTTP_TLS_CERT needs PINGANLING_HTTP_TLS_KEY")
        return {"ssl_certfile": str(self.http_tls_cert), "ssl_keyfile": str(self.http_tls_key)}

    def topics(self) -> Topics:
        return Topics(self.mqtt_root)

    def store_config(self) -> StoreConfig:
        return StoreConfig(
            acc_retention=self.acc_retention,
            vitals_retention=self.vitals_retention,
            activity_retention=self.activity_retention,
            device_health_retention=self.device_health_retention,
            rollup_retention=self.rollup_retention,
            acc_compress_after=self.acc_compress_after,
            compress_after=self.compress_after,
            acc_partitions_ahead=self.acc_partitions_ahead,
            partitions_ahead=self.partitions_ahead,
            lock_timeout=self.maintenance_lock_timeout,
        )
