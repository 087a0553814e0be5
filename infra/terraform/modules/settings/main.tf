# Names, labels, port maps and the FluxInstance values of one KIND cluster, computed from the
# validated inputs. No provider and no resource: the root module turns these values into the
# cluster and the Flux bootstrap, and `tofu test` checks them offline.

locals {
  # The Gateway's Service is a NodePort on KIND (no load balancer): Envoy Gateway's EnvoyProxy
  # (flux/infrastructure/configs) pins these node ports, and the control-plane node container
  # publishes them on the host. Both numbers sit in the default NodePort range 30000-32767.
  gateway_node_ports = {
    http  = 30080
    https = 30443
  }

  # kind's extraPortMappings for the control-plane node: host port -> node port. kube-proxy
  # answers a NodePort on every node, so publishing them on one node is enough whatever node the
  # Envoy pods run on.
  port_mappings = [
    {
      name           = "http"
      container_port = local.gateway_node_ports.http
      host_port      = var.http_host_port
      listen_address = var.listen_address
      protocol       = "TCP"
    },
    {
      name           = "https"
      container_port = local.gateway_node_ports.https
      host_port      = var.https_host_port
      listen_address = var.listen_address
      protocol       = "TCP"
    },
  ]

  # The nodes in kind's order: the control plane first (it carries the port mappings), then the
  # workers. Every node runs the same pinned image.
  nodes = concat(
    [{ role = "control-plane", port_mappings = local.port_mappings }],
    [for _ in range(var.worker_nodes) : { role = "worker", port_mappings = [] }],
  )

  # Labels on the Secrets this bootstrap creates, in the repository's scheme ("terraform": the
  # language, whichever of OpenTofu or Terraform applies it).
  labels = {
    "app.kubernetes.io/part-of"    = "sre-blueprint"
    "app.kubernetes.io/managed-by" = "terraform"
    "app.kubernetes.io/instance"   = "blueprint-${var.environment}"
  }

  # The path Flux reconciles: the environment's entry point in this repository.
  flux_path = "flux/clusters/${var.environment}"

  # The Flux Operator's FluxInstance, as the values of the flux-instance chart. The controllers are
  # the ones flux/ uses: sources, kustomizations (with SOPS), Helm releases, notifications, and the
  # two image-automation controllers that move the overlays' image tags.
  flux_instance_values = {
    instance = {
      distribution = {
        version  = var.flux_version
        registry = "ghcr.io/fluxcd"
      }
      components = [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
        "notification-controller",
        "image-reflector-controller",
        "image-automation-controller",
      ]
      cluster = {
        type = "kubernetes"
        # `small`: one replica per controller with the operator's small-cluster limits, which is
        # what a laptop running KIND affords.
        size          = "small"
        multitenant   = false
        networkPolicy = true
        domain        = "cluster.local"
      }
      sync = merge(
        {
          kind = "GitRepository"
          url  = var.repository_url
          ref  = "refs/heads/${var.git_branch}"
          path = local.flux_path
        },
        # The operator names the sync objects after the namespace; the credentials Secret follows
        # the `flux bootstrap` convention (flux-system/flux-system).
        var.git_credentials ? { pullSecret = "flux-system" } : {},
      )
    }
  }
}
