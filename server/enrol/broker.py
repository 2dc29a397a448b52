"""The broker side of gateway access: identities in Mosquitto's dynamic-security plugin.

``BrokerAccess`` holds one administrator connection (``kernel.services.dynsec``) and makes:

- each service's identity (``ensure_services``, at start-up): a role of its least rights
  (``Topics.service_grants``) and a client with the configured password;
- each gateway's role (``Topics.gateway_grants``) and clients ``<gateway>.<generation>``, bound
  to the gateway's MQTT client id: a gateway's credentials cannot be used under another id;
- revocations: deleting a client cuts its live connections at once.

Messages to a gateway (the rotation command, clearing the retained status of a revoked
gateway) go out as the API's identity: the administrator never touches data.
"""

from __future__ import annotations

import logging

from kernel.contract import Command, CommandOp, Down, Grant, Service, Up, dump
from kernel.services.broker import BrokerAddress, publish_once
from kernel.services.dynsec import Acl, Dynsec, DynsecError, Login
from server.settings import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0


class BrokerUnavailable(RuntimeError):
    """The broker could not do what access control needs now (down, refused, not configured)."""


def acls(grants: tuple[Grant, ...]) -> tuple[Acl, ...]:
    return tuple(Acl(g.access.value, g.topic) for g in grants)


class BrokerAccess:
    """Broker identities of the gateways and the services, through the plugin's administrator."""

    def __init__(self, settings: Settings) -> None:
        self.topics = settings.topics()
        self.api: BrokerAddress = settings.broker("api")
        admin = settings.broker_admin()
        where = settings.broker("admin")
        self._dynsec = Dynsec(where.host, where.port, admin, tls=where.tls_context(),
                              client_id=f"pal-admin-{settings.node_id}"[:64]) if admin else None

    @property
    def configured(self) -> bool:
        return self._dynsec is not None

    def start(self) -> None:
        if self._dynsec is not None:
            self._dynsec.start()

    def stop(self) -> None:
        if self._dynsec is not None:
            self._dynsec.stop()

    def _admin(self) -> Dynsec:
        if self._dynsec is None:
            raise BrokerUnavailable("no broker administrator is configured "
                                    "(PINGANLING_MQTT_ADMIN_USERNAME / _PASSWORD)")
        if not self._dynsec.ready.wait(READY_TIMEOUT_S):
            raise BrokerUnavailable(self._dynsec.refused or "the broker does not answer")
        return self._dynsec

    # ------------------------------------------------------------------ names

    def gateway_role(self, gateway: str) -> str:
        return self.topics.broker_name(f"gateway:{gateway}")

    def gateway_username(self, gateway: str, generation: int) -> str:
        return self.topics.broker_name(f"{gateway}.{generation}")

    def service_role(self, service: Service) -> str:
        return self.topics.broker_name(f"service:{service.value}")

    # ------------------------------------------------------------------ the services

    def ensure_services(self, logins: dict[Service, Login]) -> None:
        """Each service's role and client, as configured (unchanged ones are left alone)."""
        admin = self._admin()
        try:
            for service, login in logins.items():
                role = self.service_role(service)
                admin.ensure_role(role, acls(self.topics.service_grants(service)))
                found = admin.get_client(login.username)
                if found is None:
                    admin.create_client(login, [role], textname=f"pinganling {service.value}")
                else:
                    admin.set_password(login.username, login.password)
                    if [r.get("rolename") for r in found.get("roles", [])] != [role]:
                        admin.run({"command": "modifyClient", "username": login.username,
                                   "roles": [{"rolename": role}]})
                log.info("broker identity of the %s service: %s", service.value, login.username)
        except DynsecError as exc:
            raise BrokerUnavailable(f"the broker refused the services' identities: {exc}") \
                from exc

    # ------------------------------------------------------------------ gateways

    def ensure_gateway(self, gateway: str) -> None:
        """The gateway's role: its own ``up/`` to publish, its own ``down/`` to read."""
        try:
            self._admin().ensure_role(self.gateway_role(gateway),
                                      acls(self.topics.gateway_grants(gateway)))
        except DynsecError as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def issue(self, gateway: str, login: Login) -> None:
        """A client for the gateway, usable at once (any of that name is replaced)."""
        admin = self._admin()
        try:
            admin.ensure_role(self.gateway_role(gateway),
                              acls(self.topics.gateway_grants(gateway)))
            admin.replace_client(login, [self.gateway_role(gateway)], clientid=gateway,
                                 textname=f"gateway {gateway}")
        except DynsecError as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def revoke(self, *usernames: str | None) -> None:
        """Delete these clients: their live connections are cut, new logins refused."""
        admin = self._admin()
        try:
            for username in usernames:
                if username:
                    admin.delete_client(username)
        except DynsecError as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def exists(self, username: str) -> bool:
        try:
            return self._admin().get_client(username) is not None
        except DynsecError as exc:
            raise BrokerUnavailable(str(exc)) from exc

    # ------------------------------------------------------------------ messages (as the API)

    def send_rotation(self, gateway: str, command_id: str, login: Login,
                      expiry_s: int) -> None:
        """The gateway's new identity, on its own ``down/cmd`` (QoS 1; kept by the broker for
        an offline gateway up to ``expiry_s``)."""
        cmd = Command(id=command_id, op=CommandOp.ROTATE_CREDENTIALS,
                      args={"username": login.username, "password": login.password})
        try:
            publish_once(self.api, self.topics.down(gateway, Down.CMD), dump(cmd),
                         expiry_s=expiry_s)
        except ConnectionError as exc:
            raise BrokerUnavailable(f"the rotation could not be sent: {exc}") from exc

    def clear_status(self, gateway: str) -> None:
        """Remove the revoked gateway's retained status (its last word may be "online")."""
        try:
            publish_once(self.api, self.topics.up(gateway, Up.STATUS), b"", retain=True)
        except ConnectionError as exc:
            log.warning("the retained status of gateway %s was not cleared: %s", gateway, exc)
