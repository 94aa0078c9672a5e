"""The deployment artefacts in ``deploy/``, checked as far as this machine can (no Docker, no
Kubernetes here): every YAML parses, every Dagster instance file validates against Dagster's
instance schema and loads on PostgreSQL settings, the compose services run commands and files
that exist, and the image's entry points import."""

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTANCE_FILES = ["dagster.production.yaml", "dagster.stack.yaml"]
PG_ENV = {
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_PORT": "5432",
}


def _yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def test_every_yaml_in_deploy_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {p.name for p in files} >= {
        "compose.yaml",
        "values.yaml",
        "celery-workers.yaml",
        *INSTANCE_FILES,
    }
    for path in files:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(isinstance(d, dict) for d in docs), path


@pytest.mark.parametrize("name", INSTANCE_FILES)
def test_instance_yaml_validates_against_dagsters_schema(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    config = _yaml(DEPLOY / name)
    result = validate_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors or []]
    # and the full loader (storage classes resolved, run queue and concurrency consistent)
    from dagster._core.instance.config import dagster_instance_config

    loaded, _ = dagster_instance_config(str(DEPLOY), config_filename=name)
    assert loaded["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"


def test_the_stack_instance_has_a_run_queue_and_run_monitoring() -> None:
    config = _yaml(DEPLOY / "dagster.stack.yaml")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True
    secrets = config["storage"]["postgres"]["postgres_db"]
    assert secrets["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # never a literal


def test_compose_services_run_existing_commands_and_files() -> None:
    compose = _yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) >= {
        "postgres",
        "redis",
        "codeserver",
        "webserver",
        "daemon",
        "runworker",
        "worker1",
        "worker2",
    }
    venv_bin = Path(sys.executable).parent
    for name in ("codeserver", "webserver", "daemon", "runworker", "worker1", "worker2"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
        command = service["command"]
        assert (venv_bin / command[0]).exists(), f"{name}: {command[0]} is not installed"
        for arg in command:  # files the command names exist in the image (copied from here)
            if arg.startswith("/app/"):
                assert (ROOT / arg.removeprefix("/app/")).exists(), f"{name}: {arg}"
        for env_file in service.get("env_file", []):
            assert (DEPLOY / (env_file + ".example")).exists(), env_file
    # the run workers take the queue the stack instance's run launcher sends runs to
    from resources.run_launcher import RUN_QUEUE

    launcher = _yaml(DEPLOY / "dagster.stack.yaml")["run_launcher"]
    assert launcher["config"]["default_queue"] == RUN_QUEUE
    assert services["runworker"]["command"][services["runworker"]["command"].index("-Q") + 1] == (
        RUN_QUEUE
    )
    # every run the queue lets start gets a run worker at once: the run workers' concurrency
    # (compose's -c, scripts/stack's STACK_RUN_SLOTS default) is at least max_concurrent_runs
    import re

    limit = _yaml(DEPLOY / "dagster.stack.yaml")["concurrency"]["runs"]["max_concurrent_runs"]
    command = services["runworker"]["command"]
    assert int(command[command.index("-c") + 1]) >= limit
    slots = re.search(
        r"RUN_SLOTS=\$\{STACK_RUN_SLOTS:-(\d+)\}", (ROOT / "scripts/stack").read_text()
    )
    assert slots and int(slots.group(1)) >= limit
    # the same module for every user-code service: the project's definitions
    assert "orchestration_project.definitions" in services["codeserver"]["command"]
    for volume in services["postgres"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), source
    workspace = _yaml(DEPLOY / "workspace.compose.yaml")
    assert workspace["load_from"][0]["grpc_server"]["host"] == "codeserver"


def test_compose_and_helm_keep_secrets_out_of_the_files() -> None:
    for path in [DEPLOY / "compose.yaml", *DEPLOY.joinpath("helm").glob("*.yaml")]:
        text = path.read_text()
        assert not re.search(r"(password|PASSWORD)\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}", text), path
        assert "redis://:" not in text and "postgresql+psycopg2://" not in text, path


def test_helm_values_use_user_code_deployments_and_kubernetes_secrets() -> None:
    values = _yaml(DEPLOY / "helm" / "values.yaml")
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["-m", "orchestration_project.definitions"]
    assert deployment["envSecrets"] and values["global"]["postgresqlSecretName"]
    assert values["runLauncher"]["type"] in {"K8sRunLauncher", "CeleryK8sRunLauncher"}
    assert values["postgresql"]["enabled"] is False
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_the_dockerfile_entry_point_and_worker_modules_import() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile and "npm ci" in dockerfile
    assert "chromium" in dockerfile and "python:3.11" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None
    args = yaml.safe_load(cmd.group(1))
    module = args[args.index("-m") + 1]
    # the entry point's module and the Celery app the workers run import in a fresh process
    # (as in the image: PYTHONPATH has deploy/celery for the workers' settings)
    code = (
        f"import importlib; importlib.import_module({module!r}); "
        "import dagster_celery.app as a; assert a.app.conf.task_acks_late"
    )
    env = {
        "PATH": str(Path(sys.executable).parent),
        "PYTHONPATH": str(DEPLOY / "celery"),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "DAGSTER_EXECUTOR": "celery",
        "HOME": str(Path.home()),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for copied in re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.M):
        assert (ROOT / copied).exists(), copied
    assert importlib.util.find_spec("dagster_celery") is not None


def test_the_stack_script_is_valid_bash() -> None:
    bash = shutil.which("bash")
    assert bash
    proc = subprocess.run([bash, "-n", str(ROOT / "scripts" / "stack")], capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_an_instance_loads_from_the_stack_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading goes as far as connecting: the storage classes are the PostgreSQL ones."""
    from dagster._core.instance.ref import InstanceRef

    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.stack.yaml").read_text())
    ref = InstanceRef.from_dir(str(tmp_path))
    assert ref.storage_data.class_name == "DagsterPostgresStorage"
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert dg.DagsterInstance is not None
