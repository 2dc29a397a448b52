"""Ingest: MQTT (shared subscription, manual acks) → PostgreSQL, then acks to broker and gateway."""
