variable "kubeconfig" {
  description = "Path of the kubeconfig for this environment's cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context in the kubeconfig; null uses its current context."
  type        = string
  default     = null
}
