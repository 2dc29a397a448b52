"""Alerts: one state machine with an audit row per transition, correlation, escalation, feed."""
