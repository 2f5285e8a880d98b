"""Shared pieces of the sign-in browser tests (tests/test_auth_browser.py, tests/test_upload_browser.py): a local
OpenID Connect provider (oidc-provider-mock) on 127.0.0.1 and the app under `streamlit run` with an `[auth]`
secrets file pointing at it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_browser import ROOT, _free_port, _stop_group, _wait_healthy

COOKIE_SECRET = "test-cookie-secret-" + "x" * 24


@contextmanager
def provider(people: dict[str, str]) -> Iterator[str]:
    """The provider on a free loopback port with `people` (e-mail -> display name) predefined; yields its URL."""
    import oidc_provider_mock as oidc
    import werkzeug.serving

    before = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback, for the provider's checks
    users = [oidc.User(sub=email, claims={"email": email, "name": name}) for email, name in people.items()]
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc.app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        if before is None:
            os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = before


@contextmanager
def signed_in_app(folder: Path, provider_url: str, env: dict[str, str]) -> Iterator[str]:
    """`streamlit run app.py` with sign-in configured against `provider_url` and the OSSERVATORIO_* settings in
    `env`; yields the app's base URL once healthy, stops the server after."""
    port = _free_port()
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{COOKIE_SECRET}"\n'
        'client_id = "osservatorio-test"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n', encoding="utf-8")
    full_env = {**os.environ, "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0",
                "AUTHLIB_INSECURE_TRANSPORT": "1", **env}
    full_env.pop("OSSERVATORIO_READ_ONLY", None)
    log_path = folder / "streamlit.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--secrets.files", str(secrets)],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log_path)
        yield base
    finally:
        _stop_group(proc)
