# Every input of the cluster, validated here once. The root module passes its variables through
# unchanged, so a bad value fails `tofu plan` before any provider is called, and the rules below
# are what `tofu test` (tests/*.tftest.hcl) exercises without Docker or a network.

variable "cluster_name" {
  description = "Name of the KIND cluster (also the kubeconfig context `kind-<name>` and the node containers `<name>-control-plane`, `<name>-worker…`)."
  type        = string
  nullable    = false

  validation {
    # A DNS label (RFC 1123), at most 49 characters: KIND names the node containers
    # `<name>-control-plane` (14 more characters) and uses them as hostnames, which are at most 63.
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,47}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a DNS label of 1 to 49 characters: lowercase letters, digits and '-', starting and ending with a letter or digit."
  }
}

variable "environment" {
  description = "The environment the cluster rehearses: selects flux/clusters/<environment> and the blueprint-<environment> namespace."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be one of dev, staging, production."
  }
}

variable "worker_nodes" {
  description = "Worker nodes beside the control plane. 0 runs every pod on the control-plane node."
  type        = number
  nullable    = false
  default     = 1

  validation {
    # Each KIND node is a container running kubelet and containerd (about 0.5 GiB of memory before
    # any pod); four workers already need a 16 GiB laptop for the full monitoring stack.
    condition     = var.worker_nodes >= 0 && var.worker_nodes <= 4 && floor(var.worker_nodes) == var.worker_nodes
    error_message = "worker_nodes must be a whole number from 0 to 4."
  }
}

variable "node_image" {
  description = "KIND node image, `kindest/node:v<kubernetes version>`, pinned by digest. Use the image listed in the release notes of the kind version the provider embeds."
  type        = string
  nullable    = false

  validation {
    # Digest required: a tag of kindest/node is re-pushed when kind rebuilds its images, so only the
    # digest names one image. Kubernetes 1.33 to 1.35 are the versions the manifests are checked on.
    condition     = can(regex("^kindest/node:v1\\.3[345]\\.[0-9]+@sha256:[0-9a-f]{64}$", var.node_image))
    error_message = "node_image must be kindest/node:v1.33.x, v1.34.x or v1.35.x pinned by digest (…@sha256:<64 hex digits>)."
  }
}

variable "repository_url" {
  description = "HTTPS URL of the Git repository Flux syncs from (this repository or a fork)."
  type        = string
  nullable    = false

  validation {
    # HTTPS only, and no credentials in the URL: they would land in the state and in the
    # GitRepository object in clear. A token goes in var.git_token (a Secret) instead.
    condition     = can(regex("^https://[a-zA-Z0-9.-]+(:[0-9]+)?/[^@[:space:]]+$", var.repository_url))
    error_message = "repository_url must be an https:// URL with a host and a path, and no user or password in it."
  }
}

variable "git_branch" {
  description = "Branch Flux follows."
  type        = string
  nullable    = false
  default     = "main"

  validation {
    # The subset of git-check-ref-format that a branch people type needs: no spaces, no `..`,
    # no leading `-` or `/`, no trailing `/` or `.lock`.
    condition = (
      can(regex("^[A-Za-z0-9._][A-Za-z0-9._/-]*$", var.git_branch))
      && !can(regex("\\.\\.|//|/$|\\.lock$", var.git_branch))
    )
    error_message = "git_branch must be a valid branch name (letters, digits, '.', '_', '-', '/'; no '..', '//', trailing '/' or '.lock')."
  }
}

variable "git_credentials" {
  description = "Whether a Git credentials Secret (flux-system/flux-system) is created for a private repository or for image automation pushes."
  type        = bool
  nullable    = false
  default     = false
}

variable "listen_address" {
  description = "Host address the Gateway ports are published on. 127.0.0.1 keeps the cluster off the network; 0.0.0.0 exposes it."
  type        = string
  nullable    = false
  default     = "127.0.0.1"

  validation {
    condition     = can(cidrhost("${var.listen_address}/32", 0))
    error_message = "listen_address must be an IPv4 address such as 127.0.0.1."
  }
}

variable "http_host_port" {
  description = "Host port that reaches the Gateway's HTTP listener. Ports below 1024 need root or CAP_NET_BIND_SERVICE for rootless Docker or Podman: use 8080 there."
  type        = number
  nullable    = false
  default     = 80

  validation {
    condition     = var.http_host_port >= 1 && var.http_host_port <= 65535 && floor(var.http_host_port) == var.http_host_port
    error_message = "http_host_port must be a port number from 1 to 65535."
  }
}

variable "https_host_port" {
  description = "Host port that reaches the Gateway's HTTPS listener (8443 for rootless engines)."
  type        = number
  nullable    = false
  default     = 443

  validation {
    condition     = var.https_host_port >= 1 && var.https_host_port <= 65535 && floor(var.https_host_port) == var.https_host_port
    error_message = "https_host_port must be a port number from 1 to 65535."
  }

  validation {
    condition     = var.https_host_port != var.http_host_port
    error_message = "https_host_port must differ from http_host_port."
  }
}

variable "flux_version" {
  description = "Flux distribution version the Flux Operator installs, as a FluxInstance `distribution.version` (an exact version or a patch range such as 2.9.x)."
  type        = string
  nullable    = false
  default     = "2.9.x"

  validation {
    # Patch range at most: a minor upgrade of Flux can change API versions and must be a reviewed
    # commit, not something a reconcile picks up.
    condition     = can(regex("^2\\.[0-9]+\\.([0-9]+|x)$", var.flux_version))
    error_message = "flux_version must be a Flux 2 version, exact (2.9.5) or a patch range (2.9.x)."
  }
}

variable "sops_age_key_file" {
  description = "Path of the age private key that decrypts flux/secrets/<environment> (becomes the Secret flux-system/sops-age). null: no Secret, the apps wait for it."
  type        = string
  default     = null

  validation {
    # fileexists() fails on a directory, hence the try().
    condition     = var.sops_age_key_file == null ? true : try(fileexists(var.sops_age_key_file), false)
    error_message = "sops_age_key_file must name an existing file (an age identity, AGE-SECRET-KEY-1…), or be null."
  }
}
