"""The local target's settings: its ports (saved in ``state.json`` once a cluster runs; env ``HYPERSPARK_*``)
and whether HDFS, MLflow and a Spark Connect server run beside Spark. Every address is loopback (:data:`HOST`)."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hyperspark.ops.settings import TargetSettings

HOST = "127.0.0.1"


class LocalSettings(TargetSettings):
    """Ports of the local cluster (state.json keys; env ``HYPERSPARK_*``) and whether HDFS runs."""

    model_config = SettingsConfigDict(env_prefix="HYPERSPARK_LOCAL_")

    master_port: int = Field(7077, ge=1, le=65535, validation_alias="HYPERSPARK_MASTER_PORT")
    ui_port: int = Field(8080, ge=1, le=65535, validation_alias="HYPERSPARK_MASTER_UI_PORT")
    worker_ui_port: int = Field(8081, ge=1, le=65535, validation_alias="HYPERSPARK_WORKER_UI_PORT")
    driver_ui_port: int = Field(4040, ge=1, le=65535, validation_alias="HYPERSPARK_DRIVER_UI_PORT")
    hdfs_rpc_port: int = Field(8020, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_RPC_PORT")
    hdfs_http_port: int = Field(9870, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_HTTP_PORT")
    hdfs_dn_port: int = Field(9864, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_DATANODE_PORT")
    history_ui_port: int = Field(18080, ge=1, le=65535, validation_alias="HYPERSPARK_HISTORY_UI_PORT")
    mlflow_port: int = Field(5000, ge=1, le=65535, validation_alias="HYPERSPARK_MLFLOW_PORT")
    #: also run an MLflow tracking server (`up --mlflow`); explicit only
    mlflow: bool | None = None
    #: the Spark Connect server's gRPC port (`up --connect-port`), on 127.0.0.1
    connect_port: int = Field(15002, ge=1, le=65535, validation_alias="HYPERSPARK_CONNECT_PORT")
    #: also run a Spark Connect server attached to the cluster (`up --connect`); explicit only
    connect: bool | None = None
    #: run a real HDFS (explicit only: else as saved, else when HADOOP_HOME is set; see LocalTarget._hdfs_wanted)
    hdfs: bool | None = None
    #: GPUs each worker advertises (`up --gpus-per-worker N`; 0 = none); saved, so `scale` adds the same
    gpus_per_worker: int = Field(0, ge=0)
    #: fixed GPU addresses every worker advertises (`up --gpu-addresses 0,1`; fake GPUs for tests), else
    #: the discovery script reads nvidia-smi and worker k takes GPUs (k-1)*N .. k*N-1 of the machine
    gpu_addresses: str | None = None

    def gpu_plan(self) -> tuple[int, list[str]]:
        """(GPUs per worker, fixed addresses or [] for nvidia-smi); a disagreement is one line."""
        from hyperspark.ops import gpus

        given = self.gpus_per_worker if "gpus_per_worker" in self.model_fields_set else None
        return gpus.plan(given, self.gpu_addresses)


#: settings a running cluster was started with that `up` cannot change (a running JVM keeps them)
GPU_KEYS = ("gpus_per_worker", "gpu_addresses")
PORT_KEYS = ("master_port", "ui_port", "worker_ui_port", "driver_ui_port", "hdfs_rpc_port", "hdfs_http_port",
             "hdfs_dn_port", "history_ui_port", "mlflow_port")
PORT_LABELS = {
    "master_port": "master RPC",
    "ui_port": "master UI",
    "history_ui_port": "history server UI",
    "mlflow_port": "MLflow tracking server",
    "connect_port": "Spark Connect gRPC",
    "worker_ui_port": "worker UI",
    "hdfs_rpc_port": "HDFS NameNode RPC",
    "hdfs_http_port": "HDFS NameNode HTTP",
}
