"""The systemd units in deploy/systemd/ (docs/install-bare-host.md).

`systemd-analyze verify` checks that a unit's ExecStart binary exists, and the units
name the installed path, /opt/riskwatch/venv/bin/riskwatch, which a test may not create.
So each test copies the units into tmp_path with that path replaced by this venv's
real `riskwatch`, and verifies the copies: the files are otherwise byte for byte the
repo's, and one more test checks every unit names the installed path.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from riskwatch.cli import cli
from riskwatch.exporters.cli import EXPORTERS
from riskwatch.settings import CONFIG_ENV, ENV_PREFIX, Settings

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
ENV_EXAMPLE = UNITS / "riskwatch.env.example"
INSTALLED_BIN = "/opt/riskwatch/venv/bin/riskwatch"
"""The one install path every unit's ExecStart names."""
VENV_BIN = Path(sys.executable).with_name("riskwatch")
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
CREDENTIALS = "/etc/riskwatch/credentials/"
MAX_EXPOSURE = 2.0
"""`systemd-analyze security` rates each service at 1.6 ("OK"); 2.0 leaves no room to
drop a directive that matters."""

INSTANCES = {
    "riskwatch-agent@.service": ("trading", "health"),
    "riskwatch-exporter@.service": EXPORTERS,
}
"""Every template and the instances it is run as."""

HARDENING: dict[str, str | None] = {
    "User": "riskwatch",
    "EnvironmentFile": "/etc/riskwatch/riskwatch.env",
    "StateDirectory": "riskwatch",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallFilter": "@system-service",
}
"""What every service must end up with (None: present, any value)."""

needs_analyze = pytest.mark.usefixtures("systemd_analyze")


@pytest.fixture
def systemd_analyze() -> Path:
    """The real systemd-analyze; `make setup` installs it. Missing, the test fails:
    a check that skips proves nothing."""
    assert SYSTEMD_ANALYZE.is_file(), f"{SYSTEMD_ANALYZE} is missing (apt-get install systemd)"
    return SYSTEMD_ANALYZE


def _unit_names() -> list[str]:
    """Every unit as it is started: templates by their instances."""
    names = []
    for path in sorted(UNITS.iterdir()):
        if path.suffix not in (".service", ".timer"):
            continue
        if path.name in INSTANCES:
            names += [path.name.replace("@.", f"@{i}.") for i in INSTANCES[path.name]]
        else:
            assert "@." not in path.name, f"template {path.name} has no instances in INSTANCES"
            names.append(path.name)
    return names


UNIT_NAMES = _unit_names()
SERVICES = [name for name in UNIT_NAMES if name.endswith(".service")]


def _fragment(name: str) -> str:
    """The unit file that defines `name`: the template for an instance."""
    return re.sub(r"@[^.]+\.", "@.", name)


def _dropins(folder: Path, name: str) -> list[Path]:
    """The drop-ins systemd applies to `name`, in the order it applies them: the prefix
    folders (riskwatch-.service.d), the template's, then the instance's."""
    stem, suffix = name.rsplit(".", 1)
    dirs = []
    parts = stem.split("-")
    dirs += [f"{'-'.join(parts[:n])}-.{suffix}.d" for n in range(1, len(parts))]
    if _fragment(name) != name:
        dirs.append(f"{_fragment(name)}.d")
    dirs.append(f"{name}.d")
    return [
        conf for d in dirs if (folder / d).is_dir() for conf in sorted((folder / d).glob("*.conf"))
    ]


def effective(folder: Path, name: str, section: str = "Service") -> dict[str, list[str]]:
    """Each key of `section` of unit `name` with its values, after its drop-ins (an empty
    assignment resets a list, as in systemd)."""
    values: dict[str, list[str]] = {}
    for path in [folder / _fragment(name), *_dropins(folder, name)]:
        current = None
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                current = line.strip("[]")
                continue
            if current != section:
                continue
            key, _, value = line.partition("=")
            if value == "":
                values[key] = [""]
            else:
                values.setdefault(key, [])
                values[key] = [*(v for v in values[key] if v), value]
    return values


def missing_hardening(folder: Path, name: str) -> list[str]:
    """The HARDENING directives service `name` lacks or sets otherwise."""
    service = effective(folder, name)
    missing = []
    for key, want in HARDENING.items():
        if key not in service or (want is not None and service[key][-1] != want):
            missing.append(f"{key}={want}")
    if service.get("Type", ["simple"])[-1] != "oneshot" and service.get("Restart") != [
        "on-failure"
    ]:
        missing.append("Restart=on-failure")
    return missing


def _copy(tmp_path: Path) -> Path:
    """The units with ExecStart pointed at this venv's riskwatch."""
    assert VENV_BIN.is_file(), f"{VENV_BIN} is missing: is the package installed in this venv?"
    folder = tmp_path / "systemd"
    shutil.copytree(UNITS, folder)
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace(INSTALLED_BIN, str(VENV_BIN)))
    return folder


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [str(SYSTEMD_ANALYZE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _verify(folder: Path, names: list[str]) -> str:
    """What `systemd-analyze verify` says about the units (nothing when they are clean)."""
    done = _analyze("verify", *(str(folder / name) for name in names))
    return (
        f"exit {done.returncode}\n{done.stdout}{done.stderr}"
        if done.returncode or done.stdout or done.stderr
        else ""
    )


@needs_analyze
def test_verify_is_silent_on_every_unit(tmp_path: Path) -> None:
    assert _verify(_copy(tmp_path), UNIT_NAMES) == ""


@needs_analyze
def test_verify_reports_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt directive and a missing binary are reported."""
    folder = _copy(tmp_path)
    receiver = folder / "riskwatch-receiver.service"
    text = (
        receiver.read_text().replace("Restart=", "Restrat=").replace(str(VENV_BIN), INSTALLED_BIN)
    )
    receiver.write_text(text)
    said = _verify(folder, ["riskwatch-receiver.service"])
    assert "Restrat" in said and INSTALLED_BIN in said


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_hardened(name: str) -> None:
    assert missing_hardening(UNITS, name) == []


def test_hardening_check_sees_a_dropped_directive(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    shared = folder / "riskwatch-.service.d" / "10-riskwatch.conf"
    shared.write_text(shared.read_text().replace("ProtectHome=yes\n", ""))
    assert all("ProtectHome=yes" in missing_hardening(folder, name) for name in SERVICES)


@needs_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_exposure_score(tmp_path: Path, name: str) -> None:
    """systemd's own reading of the unit with its drop-ins agrees it is locked down."""
    done = _analyze("security", "--offline=true", str(_copy(tmp_path) / name))
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    print(f"{name}: exposure {found.group(1)}")
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


@pytest.mark.parametrize("name", SERVICES)
def test_exec_start_is_a_real_command(name: str) -> None:
    """ExecStart names the install path and a command line the CLI accepts."""
    service = effective(UNITS, name)
    (command,) = service["ExecStart"]
    binary, *args = command.split()
    assert binary == INSTALLED_BIN
    defaults = dict(
        v.split("=", 1) for value in service.get("Environment", []) for v in value.split()
    )
    instance = name.split("@", 1)[1].split(".")[0] if "@" in name else ""
    words = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], a).replace("%i", instance)
        for a in args
    ]
    result = CliRunner().invoke(cli, [*words, "--help"], obj={})
    assert result.exit_code == 0, f"riskwatch {' '.join(words)}: {result.output}"


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_are_credentials(name: str) -> None:
    """Every secret file a setting names is a credential systemd loads from
    /etc/riskwatch/credentials/, so neither the unit nor the env file holds one."""
    service = effective(UNITS, name)
    loaded = {}
    for value in service.get("LoadCredential", []):
        cred, _, source = value.partition(":")
        assert source == CREDENTIALS + cred, value
        loaded[cred] = source
    env = dict(v.split("=", 1) for value in service.get("Environment", []) for v in value.split())
    for key, value in env.items():
        if key.endswith("_FILE") or key == "PGPASSFILE":
            assert value.startswith("%d/"), f"{key}={value} is not a credential"
            assert value.removeprefix("%d/") in loaded, f"{key}={value} is never loaded"
    assert set(loaded) == {v.removeprefix("%d/") for v in env.values() if v.startswith("%d/")}


NOT_SETTINGS = {CONFIG_ENV, "RISKWATCH_RECEIVER_LISTEN"}
"""Read by riskwatch (the settings file) and by the receiver's ExecStart."""


def _is_setting(name: str) -> bool:
    model: type[BaseModel] = Settings
    *outer, last = name.removeprefix(ENV_PREFIX).lower().split("__")
    for part in outer:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return last in model.model_fields


def test_env_example_names_real_settings_and_no_secret() -> None:
    names = re.findall(r"^#?(RISKWATCH_\w+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert names
    for name, value in names:
        assert name in NOT_SETTINGS or _is_setting(name), f"{name} is no setting"
        assert not re.search(r"TOKEN|PASSWORD|SECRET|KEY|AUTH", name), name
        assert not re.search(r"://[^/@:]+:[^/@]+@", value), f"{name} holds a password"


PR_GET_MDWE = 66

_UNDER_MDWE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy, pandas, scipy.stats, psycopg
from arch import arch_model
import riskwatch.agents.cli, riskwatch.exporters.cli, riskwatch.receiver.serve
import riskwatch.report.cli, riskwatch.validation.cli
fig, ax = plt.subplots()
ax.plot(pandas.Series(numpy.random.default_rng(1).normal(size=300)).cumsum())
fig.savefig(sys.argv[1])
arch_model(numpy.random.default_rng(2).normal(size=300)).fit(disp="off")
ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x)(1)
print(psycopg.pq.__impl__)
"""


def test_python_stack_runs_without_writable_executable_memory(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes holds for what the services load: the kernel's
    PR_SET_MDWE (Linux >= 6.3) applies the same rule to a process and its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) < 0:
        pytest.skip("this kernel has no PR_SET_MDWE")
    png = tmp_path / "chart.png"
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.stat().st_size > 0
