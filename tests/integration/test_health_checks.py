"""``pass24-desk check ...``: the probes say healthy only when it is so (exit 0/1)."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from services.cli import main
from tests.fixtures.mail import free_port


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("PASS24_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["check", *args])
    return status, capsys.readouterr().out


def test_store_check_fails_without_a_store_and_creates_none(workdir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out = check(capsys, "store")
    assert status == 1 and out.startswith("UNHEALTHY: event store does not answer")
    assert not (workdir / "var" / "pass24-desk.sqlite").exists()
    from services.bootstrap import build_desk
    from services.demo import seed_live_demo
    from services.settings import Settings

    desk = build_desk(Settings(_env_file=None))
    seed_live_demo(desk)
    desk.close()
    status, out = check(capsys, "store")
    assert status == 0 and out.startswith("healthy: event store answers; store: sqlite")


def test_projections_check_follows_the_lag(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from services.bootstrap import build_desk
    from services.demo import seed_live_demo
    from services.settings import Settings

    desk = build_desk(Settings(_env_file=None))
    seed_live_demo(desk)
    desk.close()
    status, out = check(capsys, "projections", "--max-lag", "0")
    assert status == 1 and "events behind the log (limit 0)" in out
    assert main(["projections", "rebuild"]) == 0
    status, out = check(capsys, "projections", "--max-lag", "0")
    assert status == 0 and "read models 0 events behind" in out


def test_http_and_tcp_checks(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = {"/ok": 200, "/lagging": 503}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(answers.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert check(capsys, "http", f"{base}/ok")[0] == 0
        status, out = check(capsys, "http", f"{base}/lagging")
        assert status == 1 and "answered 503" in out
        assert check(capsys, "tcp", f"127.0.0.1:{server.server_port}")[0] == 0
    finally:
        server.shutdown()
    assert check(capsys, "tcp", f"127.0.0.1:{free_port()}")[0] == 1
    assert check(capsys, "http", f"http://127.0.0.1:{free_port()}/readyz")[0] == 1
