# One environment: KubeRay, KEDA and Switchboard with monitoring, and two tenants.
#   terraform init && terraform apply -var kubeconfig=~/.kube/prod
provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig
    config_context = var.kube_context
  }
}

module "switchboard" {
  source = "../../modules/switchboard"

  namespace = "switchboard-system"

  switchboard_values = {
    operator = { replicas = 2 }
    monitoring = {
      serviceMonitor   = { enabled = true, labels = { release = "prometheus" } }
      prometheusRule   = { enabled = true, labels = { release = "prometheus" } }
      grafanaDashboard = { enabled = true }
    }
  }

  tenants = {
    acme = {
      admins        = [{ kind = "Group", name = "acme-voice-admins" }]
      quotas        = { maxVoiceAgents = 20, maxConcurrentCalls = 200, resourceQuota = { "limits.cpu" = "64" } }
      allowedModels = { llm = ["smollm2-135m-instruct", "meta-llama/Llama-3.1-8B-Instruct"] }
      network       = { allowIngressFromNamespaces = ["ingress-nginx", "switchboard-system"] }
    }
    globex = {
      namespace = { name = "globex-voice" }
      quotas    = { maxVoiceAgents = 5, gpus = 1 }
    }
  }
}
