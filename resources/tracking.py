"""Experiment tracking and the model registry (MLflow), as a resource any training or scoring
code can use.

Local default: an SQLite tracking store ``<data>/mlflow/mlflow.db`` with every experiment's
artifact location pinned to ``<data>/mlflow/artifacts`` (MLflow would otherwise write
``./mlruns`` wherever the process happens to run). Production: a tracking server URI from
configuration (``MLFLOW_TRACKING_URI``) and, if given, an artifact root.

Runs are tagged with the Dagster run id when one is passed, and always end (a materialisation
never leaves an MLflow run RUNNING). Loaded models are cached per registered version, so a
sensor that scores every tick loads a model once.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

_CACHE: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
_CACHE_LOCK = threading.Lock()
CONFIG_ARTIFACT = "model_config.json"


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking: start runs, log parameters, metrics and models, register them under an
    alias and load them back."""

    tracking_uri: str = Field(
        default="",
        description="MLflow tracking URI; empty: sqlite:///<data>/mlflow/mlflow.db (local).",
    )
    artifact_root: str = Field(
        default="",
        description="Artifact location of new experiments; empty: <data>/mlflow/artifacts "
        "locally, the server's default with a tracking server.",
    )
    data_dir: str = Field(
        default="", description="Folder of the local store; empty: the project data folder."
    )

    def _folder(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir) / "mlflow"
        from resources.environment import data_dir  # lazy: environment imports this module

        return data_dir() / "mlflow"

    def uri(self) -> str:
        """The tracking URI in use."""
        if self.tracking_uri:
            return self.tracking_uri
        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"

    def _artifact_location(self) -> str | None:
        if self.artifact_root:
            return self.artifact_root
        if self.tracking_uri:
            return None
        root = self._folder() / "artifacts"
        root.mkdir(parents=True, exist_ok=True)
        return root.as_uri()

    def has_store(self) -> bool:
        """Whether there can be anything to load: a tracking server is configured, or the
        local store exists (checked without importing MLflow, so a run without models pays
        nothing for asking)."""
        return bool(self.tracking_uri) or (self._folder() / "mlflow.db").exists()

    def set_alias(self, registered_name: str, alias: str, version: str) -> None:
        """Point ``registered_name@alias`` at ``version``."""
        self.client().set_registered_model_alias(registered_name, alias, version)

    def alias_version(self, registered_name: str, alias: str) -> str | None:
        """The version behind ``registered_name@alias``, or None when there is none."""
        if not self.has_store():
            return None
        try:
            return str(self.client().get_model_version_by_alias(registered_name, alias).version)
        except Exception:  # no such model or alias
            return None

    def client(self) -> Any:
        """An ``MlflowClient`` on this store."""
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri(), registry_uri=self.uri())

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created with the pinned artifact location."""
        client = self.client()
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(name, artifact_location=self._artifact_location())

    @contextmanager
    def start_run(
        self,
        *,
        experiment: str,
        run_name: str | None = None,
        dagster_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """An active MLflow run in ``experiment`` (``mlflow`` module calls log to it); it ends
        FINISHED, or FAILED if the block raises.

        Args:
            experiment: experiment name (created if missing).
            run_name: the run's name.
            dagster_run_id: tagged as ``dagster.run_id``.
            tags: more tags.
        """
        import mlflow

        mlflow.set_tracking_uri(self.uri())
        mlflow.set_registry_uri(self.uri())
        all_tags = dict(tags or {})
        if dagster_run_id:
            all_tags["dagster.run_id"] = dagster_run_id
        exp_id = self.experiment_id(experiment)
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=all_tags) as run:
            yield run

    def log_sklearn_model(
        self,
        model: Any,
        *,
        registered_name: str,
        alias: str = "champion",
        config: Mapping[str, Any] | None = None,
        signature: Any = None,
    ) -> str:
        """Log a scikit-learn model in the active run, register it and point ``alias`` at the
        new version; ``config`` (JSON) travels with it, ``signature`` (an MLflow
        ``ModelSignature``) describes its input and output. Returns the version."""
        import mlflow
        import mlflow.sklearn

        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=registered_name, signature=signature
        )
        if config is not None:
            mlflow.log_dict(dict(config), CONFIG_ARTIFACT)
        version = str(info.registered_model_version)
        self.client().set_registered_model_alias(registered_name, alias, version)
        return version

    def load_sklearn_model(
        self, registered_name: str, *, alias: str = "champion"
    ) -> tuple[Any, dict[str, Any]]:
        """The model behind ``registered_name@alias`` and its JSON config (cached per version).

        Raises:
            mlflow.exceptions.MlflowException: no such model or alias, or the store is down.
        """
        import mlflow.sklearn

        client = self.client()
        mv = client.get_model_version_by_alias(registered_name, alias)
        key = (self.uri(), registered_name, str(mv.version))
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        # Load from the version's own artifact location: a ``models:/`` URI would resolve
        # through the process-wide registry URI, which need not be this store.
        source = client.get_model_version_download_uri(registered_name, mv.version)
        model = mlflow.sklearn.load_model(source)
        config: dict[str, Any] = {}
        if mv.run_id:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    path = client.download_artifacts(mv.run_id, CONFIG_ARTIFACT, tmp)
                    config = json.loads(Path(path).read_text())
                except Exception:  # a model logged without config still loads
                    config = {}
        with _CACHE_LOCK:
            _CACHE[key] = (model, config)
        return model, config

    def log_pyfunc_model(
        self,
        *,
        loader_module: str,
        data_path: str | Path,
        registered_name: str,
        alias: str = "champion",
        config: Mapping[str, Any] | None = None,
        signature: Any = None,
        input_example: Any = None,
        pip_requirements: list[str] | None = None,
    ) -> str:
        """Log a model that is not a scikit-learn estimator as an MLflow pyfunc in the active
        run, register it and point ``alias`` at the new version.

        The model is a folder of files (``data_path``) and an importable ``loader_module``
        whose ``_load_pyfunc(path)`` rebuilds it (MLflow's custom-flavour hook): no class of
        this project is pickled into MLflow's own files.

        Args:
            loader_module: Import path of the module with ``_load_pyfunc``.
            data_path: The model's files, copied into the model's artifacts.
            registered_name: The registered model.
            alias: The alias pointed at the new version.
            config: JSON that travels with the model (:data:`CONFIG_ARTIFACT`).
            signature: An MLflow ``ModelSignature`` (input and output schema).
            input_example: A small example input, stored with the model.
            pip_requirements: The model's requirements (None: MLflow infers them).

        Returns:
            The new version.
        """
        import mlflow
        import mlflow.pyfunc

        info = mlflow.pyfunc.log_model(
            name="model",
            loader_module=loader_module,
            data_path=str(data_path),
            registered_model_name=registered_name,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
        )
        if config is not None:
            mlflow.log_dict(dict(config), CONFIG_ARTIFACT)
        version = str(info.registered_model_version)
        self.client().set_registered_model_alias(registered_name, alias, version)
        return version

    def load_pyfunc_model(
        self, registered_name: str, *, alias: str = "champion"
    ) -> tuple[Any, dict[str, Any], str]:
        """The pyfunc model behind ``registered_name@alias``, its JSON config and its version
        (cached per version, like :meth:`load_sklearn_model`).

        Raises:
            mlflow.exceptions.MlflowException: no such model or alias, or the store is down.
            Exception: whatever the model's loader raises for files that will not load.
        """
        import mlflow.pyfunc

        client = self.client()
        mv = client.get_model_version_by_alias(registered_name, alias)
        version = str(mv.version)
        key = (self.uri(), f"pyfunc:{registered_name}", version)
        with _CACHE_LOCK:
            if key in _CACHE:
                model, config = _CACHE[key]
                return model, config, version
        source = client.get_model_version_download_uri(registered_name, mv.version)
        model = mlflow.pyfunc.load_model(source)
        config = self._run_config(client, mv.run_id)
        with _CACHE_LOCK:
            _CACHE[key] = (model, config)
        return model, config, version

    @staticmethod
    def _run_config(client: Any, run_id: str | None) -> dict[str, Any]:
        """The run's :data:`CONFIG_ARTIFACT` ({} when absent)."""
        if not run_id:
            return {}
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = client.download_artifacts(run_id, CONFIG_ARTIFACT, tmp)
                return json.loads(Path(path).read_text())
            except Exception:  # a model logged without config still loads
                return {}


__all__ = ["CONFIG_ARTIFACT", "MlflowTracking"]
