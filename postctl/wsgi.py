"""The WSGI entry point for uWSGI: `--module postctl.wsgi:app`."""

from __future__ import annotations

from postctl.web import create_app

app = create_app()
