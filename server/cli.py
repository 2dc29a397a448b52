"""``pinganling server``: the HTTP API and console, ingest workers, presence, housekeeping."""

from __future__ import annotations

import argparse

import uvicorn

from server.app import create_app
from server.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="HTTP address (default PINGANLING_HTTP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default PINGANLING_HTTP_PORT, 8080)")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    uvicorn.run(create_app(settings), host=args.host or settings.http_host,
                port=args.port or settings.http_port, log_level="info",
                **settings.uvicorn_tls())  # HTTPS when PINGANLING_HTTP_TLS_CERT / _KEY are set
    return 0
