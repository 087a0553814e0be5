# Inputs of the cluster. Their rules live in modules/settings (one place, covered by `tofu test`):
# a bad value fails the plan there before any provider runs.

variable "cluster_name" {
  description = "Name of the KIND cluster: a DNS label of at most 49 characters."
  type        = string
  default     = "blueprint-dev"
}

variable "environment" {
  description = "Environment the cluster rehearses: dev, staging or production (Flux reconciles flux/clusters/<environment>)."
  type        = string
  default     = "dev"
}

variable "worker_nodes" {
  description = "Worker nodes beside the control plane, 0 to 4."
  type        = number
  default     = 1
}

variable "node_image" {
  description = "KIND node image pinned by digest (Kubernetes 1.33 to 1.35)."
  type        = string
  # From the kind v0.30.0 release notes, the kind version the pinned provider embeds.
  default = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
}

variable "repository_url" {
  description = "HTTPS URL of the Git repository Flux syncs from (this repository or your fork)."
  type        = string
  default     = "https://github.com/sre-blueprint/sre-blueprint"
}

variable "git_branch" {
  description = "Branch Flux follows."
  type        = string
  default     = "main"
}

variable "git_token" {
  description = "Token for a private repository, and for the image automation's pushes (needs write access). null: public repository, read-only sync."
  type        = string
  default     = null
  sensitive   = true
}

variable "sops_age_key_file" {
  description = "Path of the age private key for flux/secrets/<environment>; becomes the Secret flux-system/sops-age. null: create that Secret yourself."
  type        = string
  default     = null
}

variable "listen_address" {
  description = "Host address the Gateway ports are published on (127.0.0.1: this machine only)."
  type        = string
  default     = "127.0.0.1"
}

variable "http_host_port" {
  description = "Host port of the Gateway's HTTP listener (8080 for rootless Docker or Podman)."
  type        = number
  default     = 80
}

variable "https_host_port" {
  description = "Host port of the Gateway's HTTPS listener (8443 for rootless Docker or Podman)."
  type        = number
  default     = 443
}

variable "flux_version" {
  description = "Flux version the operator installs: exact (2.9.5) or a patch range (2.9.x)."
  type        = string
  default     = "2.9.x"
}
