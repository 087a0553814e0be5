output "cluster_name" {
  description = "The KIND cluster's name (`kind get clusters`)."
  value       = kind_cluster.this.name
}

output "environment" {
  description = "The environment Flux reconciles on this cluster."
  value       = module.settings.environment
}

output "kubeconfig_path" {
  description = "The cluster's own kubeconfig file: `export KUBECONFIG=$(tofu output -raw kubeconfig_path)`."
  value       = kind_cluster.this.kubeconfig_path
}

output "kubeconfig_context" {
  description = "The context inside that kubeconfig."
  value       = module.settings.kubeconfig_context
}

output "endpoint" {
  description = "The Kubernetes API server URL."
  value       = kind_cluster.this.endpoint
}

output "flux_sync" {
  description = "What Flux reconciles: repository, ref and path."
  value = {
    url  = module.settings.flux_instance_values.instance.sync.url
    ref  = module.settings.flux_instance_values.instance.sync.ref
    path = module.settings.flux_path
  }
}

output "gateway_urls" {
  description = "The Gateway from the host; send the environment's Host header (e.g. `curl -H 'Host: dev.blueprint.example.com' http://127.0.0.1/`)."
  value       = module.settings.gateway_urls
}

output "gateway_node_ports" {
  description = "NodePorts the Envoy Gateway Service must use (pinned in flux/infrastructure/configs)."
  value       = module.settings.gateway_node_ports
}
