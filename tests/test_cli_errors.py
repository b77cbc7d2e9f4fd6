"""Bad config, a port in use and a missing binary each give one clear line, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.stack import free_ports, run_cli


def one_line_error(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("riskwatch: error: ")
    return lines[0]


def port_env(ports: dict[str, int]) -> dict[str, str]:
    return {f"RISKWATCH_STACK__{name.upper()}": str(port) for name, port in ports.items()}


def test_unknown_key_in_config_file_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "riskwatch.yaml"
    config.write_text("stack:\n  prometheus_prt: 9090\n")
    result = run_cli("--config", str(config), "stack", "status")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "stack.prometheus_prt" in line
    assert "Extra inputs are not permitted" in line


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "riskwatch.yaml"
    config.write_text("stack: [\n")
    result = run_cli("--config", str(config), "config")
    assert result.returncode == 2
    assert "cannot read configuration" in one_line_error(result)


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.yaml"), "config")
    assert result.returncode == 2
    assert "does not exist" in one_line_error(result)


def test_bad_env_value_names_field_env_var_and_allowed_values() -> None:
    result = run_cli("config", env={"RISKWATCH_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2
    line = one_line_error(result)
    assert "log_level" in line and "RISKWATCH_LOG_LEVEL" in line
    assert "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in line


def test_out_of_range_port() -> None:
    result = run_cli("config", env={"RISKWATCH_STACK__PROMETHEUS_PORT": "70000"})
    assert result.returncode == 2
    line = one_line_error(result)
    assert "stack.prometheus_port" in line and "65535" in line


def test_port_in_use_names_port_and_setting_and_starts_nothing(tmp_path: Path) -> None:
    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["pushgateway_port"]))
        squatter.listen()
        result = run_cli("stack", "up", "--state-dir", str(tmp_path), env=port_env(ports))
    assert result.returncode == 1
    line = one_line_error(result)
    assert f"port {ports['pushgateway_port']} on 127.0.0.1 is already in use" in line
    assert "stack.pushgateway_port" in line and "RISKWATCH_STACK__PUSHGATEWAY_PORT" in line
    run_dir = tmp_path / "run"
    assert not run_dir.exists() or not list(run_dir.iterdir())
    assert not (tmp_path / "postgres" / "data" / "postmaster.pid").exists()


def test_missing_binary_says_what_to_install(tmp_path: Path) -> None:
    env = {
        **port_env(free_ports()),
        "RISKWATCH_STACK__PROMETHEUS_BIN": "riskwatch-test-no-such-prometheus",
        "RISKWATCH_STACK__INSTALL_MISSING": "false",
    }
    result = run_cli("stack", "up", "--state-dir", str(tmp_path), env=env)
    assert result.returncode == 1
    line = one_line_error(result)
    assert "missing Debian package(s): prometheus" in line
    assert "apt-get install prometheus" in line
    assert "docker compose" in line
