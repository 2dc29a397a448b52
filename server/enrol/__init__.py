"""Gateway enrolment and broker access: claim codes, identities, rotation, revocation.

``codes`` (claim codes), ``broker`` (identities in Mosquitto's dynamic-security plugin),
``service`` (register, claim, rotate, revoke: transactions with an audit row each),
``presence`` (a rotation finishes when the gateway is online under its new identity).
"""
