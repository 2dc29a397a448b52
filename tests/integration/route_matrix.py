"""The role × route matrix: for every route of the app, the status each kind of caller gets.

One line per route, as the app spells it (``app.routes``; "WS" for a WebSocket, whose "status"
is 101 when accepted or its close code), in the columns of ``CALLERS``:

    anonymous     no session
    operator      alice, an operator of the world's community (幸福社区)
    supervisor    sam, every region
    technician    tina, of the world's community
    admin         ada
    auditor       audrey, every region
    other_region  olga, an operator of another community (和平社区): what belongs to the
                  world's community is 404 to her, as if it did not exist

How each request is made (a fresh row per path parameter, a valid body or ``{}``):
``test_route_matrix.py``. A 409 means "let in, but not in this state" (the alert is open, not
claimed); a 422 "let in, but the body was refused".

Adding a route: run ``pytest tests/integration/test_route_matrix.py``; it prints the missing
lines with the statuses it observed. Check each one, then paste it here.
"""

from __future__ import annotations

from typing import NamedTuple


class Expect(NamedTuple):
    anonymous: int
    operator: int
    supervisor: int
    technician: int
    admin: int
    auditor: int
    other_region: int


E = Expect
CALLERS = Expect._fields

MATRIX: dict[tuple[str, str], Expect] = {
    # (method, path)                                   anonymous, operator, supervisor,
    #                                                  technician, admin, auditor, other region
    # --- open to everyone
    ("GET", "/"):                                        E(307, 307, 307, 307, 307, 307, 307),
    ("GET", "/console/"):                                E(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/docs"):                                    E(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/docs/oauth2-redirect"):                    E(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/redoc"):                                   E(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/openapi.json"):                            E(200, 200, 200, 200, 200, 200, 200),
    ("GET", "/health"):                                  E(200, 200, 200, 200, 200, 200, 200),
    # --- signing in, one's own account
    ("POST", "/api/auth/login"):                         E(200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/reset"):                         E(401, 401, 401, 401, 401, 401, 401),
    ("POST", "/api/auth/logout"):                        E(204, 204, 204, 204, 204, 204, 204),
    ("GET", "/api/auth/me"):                             E(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/password"):                      E(401, 422, 422, 422, 422, 422, 422),
    ("GET", "/api/auth/sessions"):                       E(401, 200, 200, 200, 200, 200, 200),
    ("DELETE", "/api/auth/sessions/{session_id}"):       E(401, 204, 204, 204, 204, 204, 204),
    # --- alerts: reads in one's regions; actions by the rule table's ``who``
    ("GET", "/api/alerts/queue"):                        E(401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/alerts"):                              E(401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/alerts/{alert_id}"):                   E(401, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/alerts/{alert_id}/acc"):               E(401, 404, 404, 404, 404, 404, 404),
    ("POST", "/api/alerts/{alert_id}/claim"):            E(401, 200, 200, 403, 200, 403, 404),
    ("POST", "/api/alerts/{alert_id}/release"):          E(401, 409, 409, 403, 409, 403, 404),
    ("POST", "/api/alerts/{alert_id}/notes"):            E(401, 200, 200, 403, 200, 403, 404),
    ("POST", "/api/alerts/{alert_id}/calls"):            E(401, 409, 409, 403, 409, 403, 404),
    ("POST", "/api/alerts/{alert_id}/dispatches"):       E(401, 409, 409, 403, 409, 403, 404),
    ("PATCH", "/api/alerts/{alert_id}/dispatches/{dispatch_id}"):
                                                         E(401, 403, 200, 403, 200, 403, 404),
    ("POST", "/api/alerts/{alert_id}/resolve"):          E(401, 409, 409, 403, 409, 403, 404),
    ("POST", "/api/alerts/{alert_id}/key-safe"):         E(401, 200, 200, 403, 200, 403, 404),
    ("POST", "/api/alerts/phone-in"):                    E(401, 201, 201, 403, 201, 403, 404),
    ("WS", "/api/live"):                                 E(4401, 101, 101, 101, 101, 101, 101),
    # --- the directory: reads in one's regions; writes by supervisors (devices: technicians)
    ("GET", "/api/regions"):                             E(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/regions"):                            E(401, 403, 403, 403, 201, 403, 403),
    ("GET", "/api/residents"):                           E(401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/residents/{resident_id}"):             E(401, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/residents/{resident_id}/vitals"):      E(401, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/residents/{resident_id}/alerts"):      E(401, 200, 200, 403, 200, 200, 404),
    ("GET", "/api/residents/{resident_id}/devices"):     E(401, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/residents/{resident_id}/history"):     E(401, 200, 200, 403, 200, 200, 404),
    ("PATCH", "/api/residents/{resident_id}"):           E(401, 403, 200, 403, 200, 403, 403),
    ("PUT", "/api/residents/{resident_id}/status"):      E(401, 403, 200, 403, 200, 403, 403),
    ("PUT", "/api/residents/{resident_id}/limits"):      E(401, 403, 200, 403, 200, 403, 403),
    ("PUT", "/api/residents/{resident_id}/contacts/order"):
                                                         E(401, 403, 422, 403, 422, 403, 403),
    ("GET", "/api/homes/{home_id}"):                     E(401, 200, 200, 200, 200, 200, 404),
    ("PATCH", "/api/homes/{home_id}"):                   E(401, 403, 200, 403, 200, 403, 403),
    ("POST", "/api/homes/{home_id}/deactivate"):         E(401, 403, 409, 403, 409, 403, 403),
    ("PATCH", "/api/contacts/{contact_id}"):             E(401, 403, 200, 403, 200, 403, 403),
    ("POST", "/api/contacts/{contact_id}/deactivate"):   E(401, 403, 200, 403, 200, 403, 403),
    ("GET", "/api/directory/vocabulary"):                E(401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/residents/{resident_id}/activity"):    E(401, 200, 200, 200, 200, 200, 404),
    ("POST", "/api/homes"):                              E(401, 403, 201, 403, 201, 403, 403),
    ("POST", "/api/residents"):                          E(401, 403, 201, 403, 201, 403, 403),
    ("POST", "/api/contacts"):                           E(401, 403, 201, 403, 201, 403, 403),
    ("GET", "/api/gateways"):                            E(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/gateways"):                           E(401, 403, 201, 201, 201, 403, 403),
    # --- enrolment: technicians and supervisors register, re-code, rotate, revoke (a rotation
    #     before the gateway claimed its first identity is 409); a box claims with its code alone
    ("GET", "/api/enrol/gateways"):                      E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/enrol/gateways/{gateway_id}/audit"):   E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/enrol/homes"):                         E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/enrol/claim"):                        E(200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/enrol/gateways"):                     E(401, 403, 201, 201, 201, 403, 403),
    ("POST", "/api/enrol/gateways/{gateway_id}/claim-code"): E(401, 403, 201, 201, 201, 403, 403),
    ("POST", "/api/enrol/gateways/{gateway_id}/revoke"): E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/enrol/gateways/{gateway_id}/rotate"): E(401, 403, 409, 409, 409, 403, 403),
    ("POST", "/api/devices"):                            E(401, 403, 201, 201, 201, 403, 403),
    ("GET", "/api/reports/answer-times"):                E(401, 403, 200, 403, 200, 403, 403),
    # --- users (admins), lockouts (supervisors), the audit trail (auditors)
    ("GET", "/api/users"):                               E(401, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/users"):                              E(401, 403, 403, 403, 201, 403, 403),
    ("GET", "/api/users/{user_id}"):                     E(401, 403, 403, 403, 200, 403, 403),
    ("PATCH", "/api/users/{user_id}"):                   E(401, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/users/{user_id}/deactivate"):         E(401, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/users/{user_id}/activate"):           E(401, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/users/{user_id}/reset"):              E(401, 403, 403, 403, 200, 403, 403),
    ("DELETE", "/api/users/{user_id}/sessions"):         E(401, 403, 403, 403, 200, 403, 403),
    ("GET", "/api/sessions"):                            E(401, 403, 403, 403, 200, 403, 403),
    ("DELETE", "/api/sessions/{session_id}"):            E(401, 403, 403, 403, 204, 403, 403),
    ("GET", "/api/lockouts"):                            E(401, 403, 200, 403, 200, 403, 403),
    ("DELETE", "/api/lockouts/{kind}/{subject}"):        E(401, 403, 204, 403, 204, 403, 403),
    ("GET", "/api/audit/users"):                         E(401, 403, 403, 403, 200, 200, 403),
    # --- care rules (admins edit; everyone signed in reads), residents by care tag
    ("GET", "/api/care-rules"):                          E(401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/care-rules"):                         E(401, 403, 403, 403, 201, 403, 403),
    ("PUT", "/api/care-rules/{rule_id}"):                E(401, 403, 403, 403, 204, 403, 403),
    ("DELETE", "/api/care-rules/{rule_id}"):             E(401, 403, 403, 403, 204, 403, 403),
    ("GET", "/api/care-rules/history"):                  E(401, 403, 200, 403, 200, 200, 403),
    ("GET", "/api/directory/tag-counts"):                E(401, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/residents/{resident_id}/care-plan"):   E(401, 200, 200, 403, 200, 200, 404),
    # --- visits (探访): visitors and staff record; supervisors plan, assign, read compliance
    ("POST", "/api/visits/plan"):                        E(401, 403, 201, 403, 201, 403, 403),
    ("GET", "/api/visits/tasks"):                        E(401, 200, 200, 403, 200, 403, 200),
    ("PUT", "/api/visits/tasks/{visit_task_id}/assignee"): E(401, 403, 204, 403, 204, 403, 403),
    ("POST", "/api/visits"):                             E(401, 201, 201, 403, 201, 403, 404),
    ("GET", "/api/visits/compliance"):                   E(401, 403, 200, 403, 200, 403, 403),
    ("GET", "/api/visits/visitors"):                     E(401, 403, 200, 403, 200, 403, 403),
    ("GET", "/api/residents/{resident_id}/visits"):      E(401, 200, 200, 403, 200, 200, 404),
    # --- care calls (主动关爱): call takers call; supervisors start campaigns
    ("GET", "/api/care-calls"):                          E(401, 200, 200, 403, 200, 403, 200),
    ("POST", "/api/care-calls"):                         E(401, 201, 201, 403, 201, 403, 404),
    ("POST", "/api/care-calls/campaigns"):               E(401, 403, 201, 403, 201, 403, 403),
    ("GET", "/api/residents/{resident_id}/care-calls"):  E(401, 200, 200, 403, 200, 200, 404),
    # --- maintenance: health, work orders, commands, installation tests
    #     (technicians, supervisors, admins; another region's technician gets 404: the
    #     integration tests; the outsider column is an operator)
    ("GET", "/api/maintenance/devices"):                 E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/filters"):                 E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/gateways"):                E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/gateways/{gateway_id}/commands"):
                                                         E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/gateways/{gateway_id}/presence"):
                                                         E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/tests"):                   E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/work-orders"):             E(401, 403, 200, 200, 200, 403, 403),
    ("GET", "/api/maintenance/work-orders/{order_id}/audit"): E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/maintenance/gateways/{gateway_id}/commands"):
                                                         E(401, 403, 201, 201, 201, 403, 403),
    ("POST", "/api/maintenance/work-orders/{order_id}/claim"): E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/maintenance/work-orders/{order_id}/close"): E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/maintenance/tests"):                  E(401, 403, 201, 201, 201, 403, 403),
    # --- devices: config revisions, pairing window (technicians and supervisors, in their
    #     regions; {} is refused: each change names its device; a gateway the server never
    #     configured has no config to send again, 409)
    ("POST", "/api/gateway-devices/{gateway_id}/pair"):  E(401, 403, 422, 422, 422, 403, 403),
    ("POST", "/api/gateway-devices/{gateway_id}/window"): E(401, 403, 200, 200, 200, 403, 403),
    ("POST", "/api/gateway-devices/{gateway_id}/publish"): E(401, 403, 409, 409, 409, 403, 403),
    ("POST", "/api/gateway-devices/{gateway_id}/relabel"): E(401, 403, 422, 422, 422, 403, 403),
    ("POST", "/api/gateway-devices/{gateway_id}/replace"): E(401, 403, 422, 422, 422, 403, 403),
    ("POST", "/api/gateway-devices/{gateway_id}/unpair"): E(401, 403, 422, 422, 422, 403, 403),
    ("GET", "/api/gateway-devices/{gateway_id}"):        E(401, 403, 200, 200, 200, 403, 403),
    # --- privacy: consent, access log, subject rights (the world's resident consents to
    #     everything, so an override finds nothing withheld: 409; erasing an active one: 409)
    ("GET", "/api/access-log"):                          E(401, 403, 200, 403, 200, 200, 403),
    ("GET", "/api/residents/{resident_id}/consents"):    E(401, 200, 200, 403, 200, 200, 404),
    ("POST", "/api/residents/{resident_id}/consents"):   E(401, 403, 201, 403, 201, 403, 403),
    ("POST", "/api/residents/{resident_id}/consents/{scope}/withdraw"):
        E(401, 403, 200, 403, 200, 403, 403),
    ("POST", "/api/alerts/{alert_id}/override"):         E(401, 409, 409, 403, 409, 403, 404),
    ("GET", "/api/inform-tasks"):                        E(401, 403, 200, 403, 200, 403, 403),
    ("POST", "/api/inform-tasks/{task_id}/close"):       E(401, 403, 200, 403, 200, 403, 403),
    ("GET", "/api/residents/{resident_id}/export"):      E(401, 403, 403, 403, 200, 403, 403),
    ("GET", "/api/residents/{resident_id}/export.txt"):  E(401, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/residents/{resident_id}/erase"):      E(401, 403, 403, 403, 409, 403, 403),
    # --- monthly report
    #     (supervisors and admins; default: this month, every region)
    ("GET", "/api/reports/monthly"):                     E(401, 403, 200, 403, 200, 403, 403),
    # --- dashboard (一屏: operators, supervisors, admins, auditors; each sees their regions)
    ("GET", "/api/dashboard"):                           E(401, 200, 200, 403, 200, 200, 200),
}
