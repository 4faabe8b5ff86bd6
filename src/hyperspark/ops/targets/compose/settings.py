"""The compose target's settings: the compose variables (documented in compose.yaml's header), one field
each, the variable as its alias. Saved per project and handed to ``docker compose`` as its environment."""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hyperspark.ops.model import OpsError
from hyperspark.ops.settings import TargetSettings


def _var(name: str, env: str) -> Any:
    """A compose variable: set by field name (explicit) or by its variable (environment, saved file)."""
    return Field(None, validation_alias=env)


class ComposeSettings(TargetSettings):
    """The compose variables (documented in compose.yaml's header): field = setting, alias = variable.

    Saved per project as the variables themselves (``compose-<project>.json``) and handed to
    ``docker compose`` as its environment.
    """

    refused: ClassVar[dict[str, str]] = {
        "worker_ui_port": "compose workers are scalable: use worker_ui_ports=FIRST-LAST (HS_WORKER_UI_PORTS)",
        **dict.fromkeys(("gpus_per_worker", "gpu_addresses"),
                        "compose GPU workers are the gpu profile's spark-worker-gpu service: `docker compose "
                        "--profile gpu up -d --scale spark-worker-gpu=N` (see docs/gpus.md)"),
    }

    master_port: int | None = _var("master_port", "HS_MASTER_PORT")
    ui_port: int | None = _var("ui_port", "HS_MASTER_UI_PORT")
    namenode_port: int | None = _var("namenode_port", "HS_NAMENODE_PORT")
    namenode_ui_port: int | None = _var("namenode_ui_port", "HS_NAMENODE_UI_PORT")
    driver_ui_port: int | None = _var("driver_ui_port", "HS_DRIVER_UI_PORT")
    worker_ui_ports: str | None = _var("worker_ui_ports", "HS_WORKER_UI_PORTS")
    datanode_ui_ports: str | None = _var("datanode_ui_ports", "HS_DATANODE_UI_PORTS")
    datanodes: int | None = _var("datanodes", "HS_DATANODES")
    replication: int | None = _var("replication", "HS_HDFS_REPLICATION")
    worker_cores: int | None = _var("worker_cores", "HS_WORKER_CORES")
    worker_memory: str | None = _var("worker_memory", "HS_WORKER_MEMORY")
    # passed through from the environment when set (images, heaps, the HDFS cluster id)
    spark_image: str | None = _var("spark_image", "HS_SPARK_IMAGE")
    base_image: str | None = _var("base_image", "HS_BASE_IMAGE")
    with_boost: str | None = _var("with_boost", "HS_WITH_BOOST")
    hadoop_image: str | None = _var("hadoop_image", "HS_HADOOP_IMAGE")
    hadoop_base_image: str | None = _var("hadoop_base_image", "HS_HADOOP_BASE_IMAGE")
    daemon_memory: str | None = _var("daemon_memory", "HS_DAEMON_MEMORY")
    hdfs_cluster_id: str | None = _var("hdfs_cluster_id", "HS_HDFS_CLUSTER_ID")
    hdfs_heap: str | None = _var("hdfs_heap", "HS_HDFS_HEAP")
    model_config = SettingsConfigDict(env_prefix="HYPERSPARK_COMPOSE_")

    #: the compose stack always runs HDFS: only True (or unset) is accepted
    hdfs: bool | None = None

    @classmethod
    def check_explicit(cls, target: str, values: dict[str, Any]) -> None:
        if values.get("hdfs") is False:
            raise OpsError("the compose target always runs HDFS (--no-hdfs is not supported)")
        super().check_explicit(target, values)

    def variables(self) -> dict[str, str]:
        """The compose variables that are set, as ``docker compose`` reads them."""
        env = self.explicit_env()
        env.pop("hdfs", None)
        return env
