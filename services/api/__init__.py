"""The HTTP API: commands and queries over tickets (FastAPI)."""

from services.api.app import create_app

__all__ = ["create_app"]
