locals {
  switchboard_chart = coalesce(var.switchboard_chart, "${path.module}/../../../charts/switchboard")

  # Tenant manifests: the spec as given, the namespace defaulting to the tenant's name.
  tenant_manifests = [
    for name, spec in var.tenants : {
      apiVersion = "switchboard.dev/v1alpha1"
      kind       = "Tenant"
      metadata   = { name = name }
      spec = merge(
        { for key, value in spec : key => value if value != null },
        { namespace = spec.namespace != null ? spec.namespace : { name = name, create = true } },
      )
    }
  ]
}

resource "helm_release" "kuberay" {
  count = var.kuberay.enabled ? 1 : 0

  name             = "kuberay-operator"
  repository       = "https://ray-project.github.io/kuberay-helm/"
  chart            = "kuberay-operator"
  version          = var.kuberay.version
  namespace        = var.kuberay.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
}

resource "helm_release" "keda" {
  count = var.keda.enabled ? 1 : 0

  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.keda.version
  namespace        = var.keda.namespace
  create_namespace = true
  atomic           = true
  timeout          = 600
}

resource "helm_release" "switchboard" {
  name             = "switchboard"
  repository       = var.switchboard_repository
  chart            = local.switchboard_chart
  version          = var.switchboard_version
  namespace        = var.namespace
  create_namespace = true
  atomic           = true
  timeout          = 300
  values           = [yamlencode(var.switchboard_values)]

  # The operator needs KubeRay's (and, when enabled, KEDA's) CRDs to reconcile agents.
  depends_on = [helm_release.kuberay, helm_release.keda]
}

# Tenants are plain manifests in a small local chart, so they are created after the CRDs and
# removed (Tenant finalizers clean up their namespaces) before the operator goes.
resource "helm_release" "tenants" {
  count = length(var.tenants) > 0 ? 1 : 0

  name      = "switchboard-tenants"
  chart     = "${path.module}/charts/tenants"
  namespace = var.namespace
  atomic    = true
  values    = [yamlencode({ tenants = local.tenant_manifests })]

  depends_on = [helm_release.switchboard]
}
