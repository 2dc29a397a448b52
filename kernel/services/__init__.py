"""Bootstrap of the services the platform needs: an MQTT broker and a PostgreSQL database.

Use what is reachable on localhost; otherwise start a private instance from the system's
binaries; when a binary is missing, install Debian's package (as root) or stop with the one
command the user must run.
"""
