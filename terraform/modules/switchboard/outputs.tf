output "namespace" {
  description = "Namespace of the Switchboard operator."
  value       = helm_release.switchboard.namespace
}

output "switchboard_release" {
  description = "Name, chart version and status of the Switchboard release."
  value = {
    name    = helm_release.switchboard.name
    version = helm_release.switchboard.version
    status  = helm_release.switchboard.status
  }
}

output "tenant_namespaces" {
  description = "Tenant name to the namespace its agents and knowledge bases live in."
  value       = { for manifest in local.tenant_manifests : manifest.metadata.name => manifest.spec.namespace.name }
}

output "kuberay_version" {
  description = "Installed KubeRay operator chart version, or null when not managed here."
  value       = var.kuberay.enabled ? helm_release.kuberay[0].version : null
}

output "keda_version" {
  description = "Installed KEDA chart version, or null when not managed here."
  value       = var.keda.enabled ? helm_release.keda[0].version : null
}
