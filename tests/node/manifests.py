"""Manifests the node tier applies besides the chart and the examples."""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

NAMESPACE = "switchboard-system"
POSTGRES_USER, POSTGRES_DB = "switchboard", "knowledge"


def write_postgres(work: Path, image: str) -> Path:
    """A single PostgreSQL+pgvector (not for production: no volume survives the pod) and the
    Secrets whose `url` the chart's `knowledge.defaultStore` and `storage.callStore` name."""
    password = secrets.token_urlsafe(16)
    url = (
        f"postgresql://{POSTGRES_USER}:{password}@postgres.{NAMESPACE}.svc.cluster.local:5432/"
        f"{POSTGRES_DB}"
    )
    labels = {"app.kubernetes.io/name": "postgres"}
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "knowledge-store", "namespace": NAMESPACE},
            "stringData": {"url": url, "password": password},
        },
        {  # The call store (values.yaml: storage.callStore): the same server and database.
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "call-store", "namespace": NAMESPACE},
            "stringData": {"url": url},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "postgres", "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "postgres",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "env": [
                                    {"name": "POSTGRES_USER", "value": POSTGRES_USER},
                                    {"name": "POSTGRES_DB", "value": POSTGRES_DB},
                                    {
                                        "name": "POSTGRES_PASSWORD",
                                        "valueFrom": {
                                            "secretKeyRef": {
                                                "name": "knowledge-store",
                                                "key": "password",
                                            }
                                        },
                                    },
                                ],
                                "ports": [{"name": "postgres", "containerPort": 5432}],
                                "readinessProbe": {
                                    "tcpSocket": {"port": 5432},
                                    "periodSeconds": 2,
                                },
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "postgres", "namespace": NAMESPACE},
            "spec": {"selector": labels, "ports": [{"name": "postgres", "port": 5432}]},
        },
    ]
    path = work / "cfg" / "postgres.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    path.chmod(0o600)
    return path
