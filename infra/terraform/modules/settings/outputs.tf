output "cluster_name" {
  description = "The KIND cluster's name."
  value       = var.cluster_name
}

output "environment" {
  description = "The environment the cluster rehearses."
  value       = var.environment
}

output "kubeconfig_context" {
  description = "The kubeconfig context kind writes for the cluster."
  value       = "kind-${var.cluster_name}"
}

output "kubeconfig_file_name" {
  description = "File name of the cluster's own kubeconfig (the root module puts it next to its state)."
  value       = "${var.cluster_name}.kubeconfig"
}

output "app_namespace" {
  description = "The namespace the environment's overlay deploys to."
  value       = "blueprint-${var.environment}"
}

output "flux_path" {
  description = "The repository path Flux reconciles."
  value       = local.flux_path
}

output "gateway_node_ports" {
  description = "NodePorts of the Envoy Gateway Service, by listener (what the EnvoyProxy must pin)."
  value       = local.gateway_node_ports
}

output "nodes" {
  description = "KIND nodes in order: role and extraPortMappings."
  value       = local.nodes
}

output "gateway_urls" {
  description = "Base URLs of the Gateway from the host."
  value = {
    http  = "http://${var.listen_address}${var.http_host_port == 80 ? "" : ":${var.http_host_port}"}"
    https = "https://${var.listen_address}${var.https_host_port == 443 ? "" : ":${var.https_host_port}"}"
  }
}

output "labels" {
  description = "Labels for the Secrets the bootstrap creates."
  value       = local.labels
}

output "flux_instance_values" {
  description = "Values of the flux-instance Helm chart (the FluxInstance spec under `instance`)."
  value       = local.flux_instance_values
}

output "node_image" {
  description = "The pinned KIND node image every node runs."
  value       = var.node_image
}
