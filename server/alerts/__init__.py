"""Alerts: one state machine with an audit row per action, the service every caller acts through,
correlation, escalation, the read side, the change feed."""
