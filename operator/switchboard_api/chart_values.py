"""The Helm chart's values, as a pydantic model: the one source of `values.yaml` and its schema.

`switchboard crds` writes `charts/switchboard/values.yaml` (every key with its description as a
comment) and `values.schema.json` (unknown keys and wrong types fail `helm install`) from
`ChartValues`; a test fails when the committed files drift from this module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]
Duration = Annotated[str, Field(pattern=r"^[0-9]+(s|m|h)$")]


class _Values(BaseModel):
    # Helm values are camelCase; fields are snake_case in Python.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Image(_Values):
    """One container image."""

    repository: str = Field(description="Registry and repository, without the tag.")
    tag: str = Field("", description="Tag; empty means the chart's appVersion.")
    digest: str = Field(
        "", pattern=r"^(sha256:[0-9a-f]{64})?$", description="Pins the image when set."
    )


class Images(_Values):
    """Images of every deployable (one per deployable; the operator passes four on)."""

    operator: Image = Field(
        Image(repository="ghcr.io/switchboard-dev/operator"),
        description="The operator (kopf + kubernetes client only).",
    )
    gateway: Image = Field(
        Image(repository="ghcr.io/switchboard-dev/gateway"),
        description="Call gateways (gRPC + WebSocket, VAD, the conversation loop).",
    )
    indexer: Image = Field(
        Image(repository="ghcr.io/switchboard-dev/indexer"),
        description="Knowledge-base indexing Jobs.",
    )
    serve_cpu: Image = Field(
        Image(repository="ghcr.io/switchboard-dev/serve-cpu"),
        description="Ray Serve model pool with CPU engines and the packaged models.",
    )
    serve_gpu: Image = Field(
        Image(repository="ghcr.io/switchboard-dev/serve-gpu"),
        description="Ray Serve model pool with vLLM on CUDA; used when `modelPool.gpu` is true.",
    )
    postgres: Image = Field(
        Image(repository="docker.io/pgvector/pgvector", tag="pg15"),
        description=(
            "PostgreSQL with pgvector for `devPostgres` only (an image configured like the"
            " official postgres image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)."
        ),
    )
    pull_policy: PullPolicy = Field("IfNotPresent", description="Pull policy of every image.")
    pull_secrets: list[str] = Field(
        [], description="Names of image pull Secrets in the release namespace (operator pod)."
    )


class ResourceAmounts(_Values):
    """CPU and memory."""

    cpu: Quantity = Field(description="CPU, e.g. `100m`.")
    memory: Quantity = Field(description="Memory, e.g. `256Mi`.")


class Resources(_Values):
    """Requests and limits of a container."""

    requests: ResourceAmounts = Field(description="What the scheduler reserves.")
    limits: ResourceAmounts = Field(description="The ceiling; memory over it kills the pod.")


class Peering(_Values):
    """kopf peering: replicas that share a peering object elect one active operator."""

    name: str = Field(
        "switchboard",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Name of the ClusterKopfPeering object.",
    )
    create: bool = Field(True, description="Create the ClusterKopfPeering object.")


class ServiceAccount(_Values):
    """The operator's identity; its ClusterRole is generated from what the operator touches."""

    create: bool = Field(True, description="Create the ServiceAccount and bind the ClusterRole.")
    name: str = Field("switchboard-operator", description="Name of the ServiceAccount.")
    annotations: dict[str, str] = Field({}, description="e.g. workload identity bindings.")


class NetworkPolicy(_Values):
    """Ingress to the operator pod: metrics from the monitoring namespaces, nothing else."""

    enabled: bool = Field(True, description="Create the operator's NetworkPolicy.")


class Operator(_Values):
    """The operator Deployment."""

    replicas: int = Field(
        1, ge=1, le=5, description="Replicas; more than one elect a leader through peering."
    )
    peering: Peering = Field(Peering(), description="Leader election between replicas.")
    network_policy: NetworkPolicy = Field(NetworkPolicy(), description="Who may reach the pod.")
    resync_seconds: float = Field(
        60, gt=0, le=3600, description="Every object is reconciled again at least this often."
    )
    calls_poll_seconds: float = Field(
        15, gt=0, le=3600, description="How often gateway pods are asked for their active calls."
    )
    request_timeout_seconds: float = Field(
        20, gt=0, le=300, description="Upper bound of one request to the API server or a pod."
    )
    metrics_port: int = Field(8000, ge=1, le=65535, description="Prometheus metrics port.")
    health_port: int = Field(8080, ge=1, le=65535, description="kopf's liveness endpoint port.")
    resources: Resources = Field(
        Resources(
            requests=ResourceAmounts(cpu="100m", memory="256Mi"),
            limits=ResourceAmounts(cpu="1", memory="512Mi"),
        ),
        description="The operator container's resources.",
    )
    node_selector: dict[str, str] = Field({}, description="Node labels the pod requires.")
    tolerations: list[dict[str, str | int]] = Field([], description="Pod tolerations.")
    priority_class_name: str = Field("", description="Priority class of the operator pod.")
    pod_annotations: dict[str, str] = Field({}, description="Extra annotations on the pod.")
    pod_labels: dict[str, str] = Field({}, description="Extra labels on the pod.")


class Head(_Values):
    """The Ray head of a tenant's model pool (GCS, dashboard, Serve controller; no models)."""

    cpu: Quantity = Field("1", description="CPU the head requests.")
    memory: Quantity = Field("4Gi", description="Memory of the head (request and limit).")


class Worker(_Values):
    """One Ray worker of a tenant's model pool."""

    cpu: Quantity = Field("4", description="CPU one worker requests.")
    memory: Quantity = Field("16Gi", description="Memory of one worker (request and limit).")
    max_replicas: int = Field(10, ge=1, le=1000, description="Most workers per tenant pool.")
    ray_cpus: int = Field(
        0,
        ge=0,
        le=1024,
        description=(
            "Logical CPUs Ray schedules on one worker (each packaged model takes 1); "
            "0: the worker's `cpu`. More than `cpu` lets small models share a small worker."
        ),
    )


class ModelPool(_Values):
    """The per-tenant RayService the operator renders."""

    gpu: bool = Field(False, description="Run model pools from the serve-gpu image (vLLM).")
    ray_version: str = Field(
        "2.60.0",
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="The Ray version inside the serve image (KubeRay needs it).",
    )
    head: Head = Field(Head(), description="Ray head size.")
    worker: Worker = Field(Worker(), description="Ray worker size and count.")


class Gateway(_Values):
    """Call gateway pods the operator renders per VoiceAgent."""

    cpu: Quantity = Field("1", description="CPU of one gateway replica.")
    memory: Quantity = Field("1Gi", description="Memory of one gateway replica.")


class SecretKey(_Values):
    """A key of a Secret in the release namespace."""

    name: str = Field(
        "",
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$",
        description="Name of the Secret; empty: none.",
    )
    key: str = Field("url", pattern=r"^[-._a-zA-Z0-9]+$", description="The key within it.")


class CallStore(_Values):
    """Where gateways keep call records: an existing PostgreSQL database."""

    connection_secret_ref: SecretKey = Field(
        SecretKey(),
        description=(
            "Secret in the release namespace whose key is a libpq URI of a PostgreSQL database"
            " (postgresql://user:password@host:5432/db?sslmode=require) that keeps call records."
            " The operator may read only this Secret and copies the key into each tenant"
            " namespace (Secret `switchboard-call-store`, key `url`) for the gateways; a"
            " pre-install/pre-upgrade hook Job migrates its schema once per release. Empty name:"
            " no call store, and agents take calls without keeping records (condition"
            " `RecordsReady=False`, reason `CallStoreEphemeral`)."
        ),
    )
    migration_timeout_seconds: int = Field(
        300,
        ge=30,
        le=3600,
        description=(
            "How long the migration hook Job waits for the database (and for another migration"
            " holding the lock) before failing the install or upgrade."
        ),
    )


class RecordingsBucket(_Values):
    """An S3-compatible bucket for call recordings."""

    bucket: str = Field(
        "",
        pattern=r"^([a-z0-9][-a-z0-9.]{1,61}[a-z0-9])?$",
        description="The bucket; empty: no recordings store.",
    )
    prefix: str = Field(
        "recordings/", max_length=200, description="Key prefix of the recordings in the bucket."
    )
    endpoint_url: str = Field(
        "",
        pattern=r"^(https?://[^\s]+)?$",
        description=(
            "An S3-compatible endpoint (MinIO, R2, ...); empty: AWS S3. The gateways' egress"
            " goes to this host and port: a `<service>.<namespace>.svc` name opens that"
            " namespace, an IP address that address, any other name the public internet."
        ),
    )
    region: str = Field("", max_length=64, description="The bucket's region; empty: boto3's.")


class SecretName(_Values):
    """A Secret in the release namespace."""

    name: str = Field(
        "",
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$",
        description="Name of the Secret; empty: none.",
    )


class Recordings(_Values):
    """Where gateways store recordings of agents with `callPolicy.recording`."""

    s3: RecordingsBucket = Field(RecordingsBucket(), description="The bucket.")
    credentials_secret_ref: SecretName = Field(
        SecretName(),
        description=(
            "Secret in the release namespace with keys AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY for the bucket. The operator may read only this Secret and"
            " copies both keys into each tenant namespace with a recording agent (Secret"
            " `switchboard-recordings`) for the gateways. Without a bucket and this Secret,"
            " agents with callPolicy.recording take calls unrecorded (condition"
            " `RecordingsReady=False`, reason `RecordingStoreMissing`)."
        ),
    )


class Storage(_Values):
    """Default storage settings."""

    call_store: CallStore = Field(CallStore(), description="Call records.")
    recordings: Recordings = Field(Recordings(), description="Call recordings.")


class DefaultKnowledgeStore(_Values):
    """The store of knowledge bases with `store.type: default` (PostgreSQL with pgvector)."""

    connection_secret_ref: SecretKey = Field(
        SecretKey(),
        description=(
            "Secret in the release namespace whose key is a libpq URI of a PostgreSQL database"
            " with the pgvector extension available. The operator may read only this Secret and"
            " copies the key into each tenant namespace that uses it (Secret"
            " `switchboard-knowledge-store`, key `url`). Empty name: no default store, and such"
            " knowledge bases report `StoreNotConfigured`."
        ),
    )


class Knowledge(_Values):
    """Knowledge-base indexes."""

    default_store: DefaultKnowledgeStore = Field(
        DefaultKnowledgeStore(), description="What `store.type: default` means in this install."
    )


class ServiceMonitor(_Values):
    """A prometheus-operator ServiceMonitor for the operator's metrics."""

    enabled: bool = Field(False, description="Create it (needs prometheus-operator's CRDs).")
    interval: Duration = Field("30s", description="Scrape interval.")
    labels: dict[str, str] = Field({}, description="Labels your Prometheus selects on.")


class PrometheusRule(_Values):
    """Alerts on voice latency, call failures and operator errors."""

    enabled: bool = Field(False, description="Create it (needs prometheus-operator's CRDs).")
    labels: dict[str, str] = Field({}, description="Labels your Prometheus selects rules by.")
    voice_to_voice_p95_seconds: float = Field(
        1.2, gt=0, description="Alert when any agent's voice-to-voice p95 stays above this."
    )
    call_failure_ratio: float = Field(
        0.05, gt=0, le=1, description="Alert when this share of an agent's calls end in errors."
    )
    for_duration: Duration = Field("10m", description="How long a condition holds before alerting.")


class GrafanaDashboard(_Values):
    """A dashboard ConfigMap for Grafana's sidecar (active calls, stage latency, replicas)."""

    enabled: bool = Field(False, description="Create the ConfigMap.")
    labels: dict[str, str] = Field(
        {"grafana_dashboard": "1"}, description="Labels Grafana's sidecar discovers it by."
    )


class Monitoring(_Values):
    """Metrics, alerts and dashboards."""

    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus that KEDA queries for `switchboard_active_calls`.",
    )
    namespaces: list[str] = Field(
        ["monitoring"], description="Namespaces allowed to scrape gateways through tenant policies."
    )
    service_monitor: ServiceMonitor = Field(ServiceMonitor(), description="Operator scraping.")
    prometheus_rule: PrometheusRule = Field(PrometheusRule(), description="Alerts.")
    grafana_dashboard: GrafanaDashboard = Field(GrafanaDashboard(), description="Dashboard.")


class CallTest(_Values):
    """`helm test`: a pod places one short scripted call (typed turn) through a gateway."""

    agent: str = Field(
        "",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$",
        description="NAMESPACE/NAME of the VoiceAgent to call; empty renders no test.",
    )
    text: str = Field("Hello, are you there?", min_length=1, description="The typed turn.")
    timeout_seconds: float = Field(60, gt=0, le=600, description="Wait for the reply this long.")
    api_key_secret_ref: SecretKey = Field(
        SecretKey(key="key"),
        description=(
            "Secret in the release namespace holding an API key of that agent (the first line"
            " of the key's value). Empty name: the call carries no key, which a gateway the"
            " operator deploys refuses."
        ),
    )


class Tests(_Values):
    """`helm test` hooks."""

    call: CallTest = Field(CallTest(), description="The scripted call.")


class DevPostgresPersistence(_Values):
    """The dev PostgreSQL's data volume."""

    enabled: bool = Field(
        True,
        description=(
            "A PersistentVolumeClaim; false: an emptyDir, and EVERY RECORD AND INDEX IS LOST"
            " with the pod (a throwaway cluster only)."
        ),
    )
    size: Quantity = Field("8Gi", description="Size of the claim.")
    storage_class_name: str = Field("", description="Storage class; empty: the cluster's default.")


class DevPostgres(_Values):
    """NOT FOR PRODUCTION: one PostgreSQL the chart runs itself, for development clusters."""

    enabled: bool = Field(
        False,
        description=(
            "NOT FOR PRODUCTION (no backups, no high availability, no upgrades of PostgreSQL"
            " itself): run one PostgreSQL+pgvector pod (StatefulSet, 1 replica) in the release"
            " namespace with a generated password (Secret `<release>-dev-postgres`, key `url`)."
            " It becomes the call store and the default knowledge store where"
            " `storage.callStore` or `knowledge.defaultStore` name no Secret."
        ),
    )
    persistence: DevPostgresPersistence = Field(
        DevPostgresPersistence(), description="Where its data lives."
    )


class ChartValues(_Values):
    """Values of the `switchboard` chart."""

    images: Images = Field(Images(), description="Container images.")
    service_account: ServiceAccount = Field(ServiceAccount(), description="Operator identity.")
    operator: Operator = Field(Operator(), description="The operator Deployment.")
    model_pool: ModelPool = Field(ModelPool(), description="Per-tenant model pools.")
    gateway: Gateway = Field(Gateway(), description="Per-agent call gateways.")
    storage: Storage = Field(Storage(), description="Storage defaults.")
    knowledge: Knowledge = Field(Knowledge(), description="Knowledge-base indexes.")
    dev_postgres: DevPostgres = Field(
        DevPostgres(), description="A development PostgreSQL (NOT FOR PRODUCTION)."
    )
    monitoring: Monitoring = Field(Monitoring(), description="Metrics, alerts, dashboards.")
    tests: Tests = Field(Tests(), description="`helm test` hooks.")
