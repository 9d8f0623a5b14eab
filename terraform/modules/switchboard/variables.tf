variable "namespace" {
  description = "Namespace of the Switchboard operator release."
  type        = string
  default     = "switchboard-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "namespace must be a DNS label (lower-case letters, digits and '-', at most 63 characters)."
  }
}

variable "switchboard_chart" {
  description = "The Switchboard chart: a local path (this repository's charts/switchboard) or a chart name in switchboard_repository."
  type        = string
  default     = null
}

variable "switchboard_repository" {
  description = "Helm repository of the Switchboard chart; null when switchboard_chart is a local path."
  type        = string
  default     = null
}

variable "switchboard_version" {
  description = "Switchboard chart version (pinned)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.switchboard_version))
    error_message = "switchboard_version must be an exact semantic version such as 0.1.0."
  }
}

variable "switchboard_values" {
  description = "Values of the Switchboard chart (charts/switchboard/values.yaml documents every key; its schema rejects unknown ones)."
  type        = any
  default     = {}
}

variable "kuberay" {
  description = "The KubeRay operator release (model pools are RayServices)."
  type = object({
    enabled   = optional(bool, true)
    version   = optional(string, "1.6.0")
    namespace = optional(string, "kuberay-system")
  })
  default = {}

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kuberay.version))
    error_message = "kuberay.version must be an exact version such as 1.6.0."
  }
}

variable "keda" {
  description = "The KEDA release (gateways scale on live calls; without it they scale on CPU)."
  type = object({
    enabled   = optional(bool, true)
    version   = optional(string, "2.20.2")
    namespace = optional(string, "keda")
  })
  default = {}

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.keda.version))
    error_message = "keda.version must be an exact version such as 2.20.2."
  }
}

variable "tenants" {
  description = "Tenants by name. Each value is a Tenant spec in the CRD's own (camelCase) field names; namespace defaults to the tenant's name."
  type = map(object({
    namespace = optional(object({
      name   = string
      create = optional(bool, true)
    }))
    admins = optional(list(object({
      kind = string
      name = string
    })), [])
    quotas = optional(object({
      maxConcurrentCalls = optional(number)
      maxVoiceAgents     = optional(number)
      maxKnowledgeBases  = optional(number)
      gpus               = optional(number)
      resourceQuota      = optional(map(string))
    }), {})
    allowedModels = optional(object({
      asr = optional(list(string))
      llm = optional(list(string))
      tts = optional(list(string))
    }), {})
    network = optional(object({
      isolation                  = optional(string, "strict")
      allowIngressFromNamespaces = optional(list(string), [])
    }), {})
    suspend = optional(bool, false)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.tenants) : can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name)) && length(name) <= 63])
    error_message = "Tenant names must be DNS labels (lower-case letters, digits and '-', at most 63 characters)."
  }

  validation {
    condition     = alltrue([for tenant in values(var.tenants) : contains(["strict", "none"], tenant.network.isolation)])
    error_message = "network.isolation must be \"strict\" or \"none\"."
  }

  validation {
    condition     = alltrue([for tenant in values(var.tenants) : alltrue([for admin in tenant.admins : contains(["User", "Group", "ServiceAccount"], admin.kind)])])
    error_message = "admins[].kind must be User, Group or ServiceAccount."
  }
}
