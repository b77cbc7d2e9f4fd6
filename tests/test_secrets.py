"""Secrets: owner-only files from the first byte, DSNs redacted by libpq's rules, no
error that echoes a secret, no SMTP password in clear, and a PostgreSQL home nobody
could have prepared for us."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskwatch.settings import ConfigError, load_settings
from riskwatch.stack.errors import StackError
from riskwatch.stack.postgres import HOME_POINTER, LocalPostgres, redact_dsn
from riskwatch.stack.render import render_alertmanager
from riskwatch.stack.secrets import write_secret

SECRET = "s3cr3t-" + os.urandom(6).hex()


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes_seen_while_writing(path: Path, write: Any) -> list[int]:
    """The file's mode at every chmod and write-open the process makes while `write`
    runs: the audit hook sees the file between its creation and any later chmod."""
    seen: list[int] = []
    active = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if active[0] and event in ("os.chmod", "open") and path.exists():
            seen.append(stat.S_IMODE(path.stat().st_mode))

    sys.addaudithook(hook)  # audit hooks cannot be removed: `active` retires it
    try:
        write()
    finally:
        active[0] = False
    seen.append(stat.S_IMODE(path.stat().st_mode))
    return seen


def test_a_secret_is_owner_only_from_the_moment_it_exists(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "token"
    seen = _modes_seen_while_writing(path, lambda: write_secret(path, SECRET))
    assert seen and set(seen) == {0o600}, [oct(m) for m in seen]
    assert path.read_text() == SECRET


def test_an_existing_readable_file_is_narrowed_before_the_secret_goes_in(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "token"
    path.write_text("old")
    path.chmod(0o644)
    write_secret(path, SECRET)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == SECRET


def test_a_secret_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "token").symlink_to(target)
    with pytest.raises(OSError):
        write_secret(tmp_path / "token", SECRET)
    assert not target.exists()


def test_the_rendered_alertmanager_config_and_its_secrets_are_owner_only(
    tmp_path: Path, umask_022: None
) -> None:
    settings = load_settings(
        state_dir=tmp_path / "state",
        notifications={
            "slack_webhook_url": f"https://hooks.example/{SECRET}",
            "smtp_username": "ops",
            "smtp_password": SECRET,
            "smtp_require_tls": True,
        },
    )
    out = tmp_path / "config" / "alertmanager.yml"
    seen = _modes_seen_while_writing(
        out,
        lambda: render_alertmanager(settings, out, settings.secrets_dir, tmp_path / "credential"),
    )
    assert set(seen) == {0o600}
    for name in ("slack_api_url", "smtp_password"):
        assert stat.S_IMODE((settings.secrets_dir / name).stat().st_mode) == 0o600
    assert SECRET not in out.read_text()  # both go by file, never inline


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://ops:{SECRET}@db.internal:5432/riskwatch",
        f"postgresql://ops@db.internal/riskwatch?sslmode=require&password={SECRET}",
        f"host=db.internal user=ops password={SECRET} dbname=riskwatch",
        f"host=db.internal user=ops password='{SECRET} x' dbname=riskwatch",
    ],
    ids=["url", "query", "key-value", "quoted"],  # the secret is random: no ids from it
)
def test_redact_dsn_hides_the_password_in_every_form_libpq_reads(dsn: str) -> None:
    shown = redact_dsn(dsn)
    assert SECRET not in shown
    assert "password=***" in shown and "db.internal" in shown and "ops" in shown


def test_redact_dsn_keeps_a_dsn_without_password_and_hides_what_libpq_cannot_read() -> None:
    plain = "postgresql://ops@127.0.0.1:15432/riskwatch?passfile=/state/secrets/pgpass"
    assert redact_dsn(plain) == plain
    assert SECRET not in redact_dsn(f"postgresql://ops:{SECRET}@[bad")


@pytest.mark.parametrize(
    "overrides",
    [
        {"receiver_token": [SECRET]},
        {"database_url": 12345, "pushgateway_auth": [SECRET]},
        {"heartbeat": {"url": [SECRET]}},
        {"notifications": {"slack_webhook_url": {SECRET: 1}}},
    ],
)
def test_a_config_error_never_echoes_a_secret(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(**overrides)
    assert SECRET not in str(error.value) and "12345" not in str(error.value)
    assert "invalid setting" in str(error.value)


def test_a_config_error_still_shows_a_wrong_value_that_is_no_secret() -> None:
    with pytest.raises(ConfigError, match=r"stack.prometheus_port \(got 'ninety'\)"):
        load_settings(stack={"prometheus_port": "ninety"})


@pytest.mark.parametrize(
    ("section", "values", "tls"),
    [
        ("notifications", {"smtp_username": "ops", "smtp_password": SECRET}, "smtp_require_tls"),
        ("report", {"smtp_username": "ops", "smtp_password": SECRET}, "smtp_starttls"),
    ],
)
def test_an_smtp_login_without_tls_is_refused_unless_allowed_for_a_local_sink(
    section: str, values: dict[str, Any], tls: str
) -> None:
    with pytest.raises(ConfigError, match="sends the password in clear") as error:
        load_settings(**{section: values})
    assert SECRET not in str(error.value)
    load_settings(**{section: {**values, tls: True}})
    load_settings(**{section: {**values, "smtp_allow_plaintext_auth": True}})


# ------------------------------------------------------- the cluster's home as root
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the home outside the state folder exists only as root"
)


def _private_state(tmp_path: Path) -> Path:
    """A state folder the postgres user cannot enter, as /root/... is."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    return private / "state"


@needs_root
def test_as_root_the_home_is_a_fresh_mkdtemp_folder_named_in_the_state(tmp_path: Path) -> None:
    state = _private_state(tmp_path)
    bin_dir = Path("/usr/lib/postgresql/15/bin")
    assert LocalPostgres.in_state_dir(bin_dir, state, "127.0.0.1", 1).home == state / "postgres"
    made = LocalPostgres.in_state_dir(bin_dir, state, "127.0.0.1", 1, create=True).home
    try:
        assert made.parent == Path("/var/tmp") and made.name.startswith("riskwatch-postgres-")
        assert stat.S_IMODE(made.stat().st_mode) == 0o700 and made.stat().st_uid == 0
        assert (state / HOME_POINTER).read_text().strip() == str(made)
        again = LocalPostgres.in_state_dir(bin_dir, state, "127.0.0.1", 1, create=True)
        assert again.home == made  # the same cluster on the next `up`
    finally:
        made.rmdir()


@needs_root
def test_as_root_a_home_that_is_not_private_is_refused(tmp_path: Path) -> None:
    state = _private_state(tmp_path)
    bin_dir = Path("/usr/lib/postgresql/15/bin")
    home = LocalPostgres.in_state_dir(bin_dir, state, "127.0.0.1", 1, create=True).home
    try:
        home.chmod(0o777)  # someone opened it up, or swapped in a folder of their own
        with pytest.raises(StackError, match="not a private directory"):
            LocalPostgres.in_state_dir(bin_dir, state, "127.0.0.1", 1, create=True)
    finally:
        home.rmdir()


def test_the_report_reads_its_smtp_password_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "smtp_password"
    write_secret(path, SECRET + "\n")
    report = {"smtp_username": "ops", "smtp_password_file": str(path), "smtp_starttls": True}
    password = load_settings(report=report).report.smtp_password
    assert password is not None and password.get_secret_value() == SECRET
    write_secret(path, "")  # compose's empty secret: no SMTP login at all
    assert load_settings(report={"smtp_password_file": str(path)}).report.smtp_password is None
    with pytest.raises(ConfigError, match="smtp_password_file") as error:
        load_settings(report={"smtp_password_file": str(tmp_path / "missing")})
    assert SECRET not in str(error.value)
