output "tenant_namespaces" {
  description = "Where each tenant's agents go."
  value       = module.switchboard.tenant_namespaces
}

output "switchboard" {
  description = "The Switchboard release."
  value       = module.switchboard.switchboard_release
}
