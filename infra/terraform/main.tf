# A KIND cluster and the Flux Operator, which installs Flux and points it at this repository's
# flux/clusters/<environment>. From there Flux installs everything else (Envoy Gateway, the
# monitoring stack, the apps): this module only creates what must exist before Flux can run.
# Why the Flux Operator rather than flux_bootstrap_git: docs/adr/0002-cluster-bootstrap.md.

locals {
  # Chart version of both the flux-operator and flux-instance charts, released in lockstep with
  # the operator (v0.59.0); the operator installs any Flux 2 release, here the default
  # flux_version range 2.9.x (Flux 2.9.5: kustomize-controller v1.9.5, source-controller v1.9.5).
  flux_operator_chart_version = "0.59.0"
  flux_operator_charts        = "oci://ghcr.io/controlplaneio-fluxcd/charts"
}

module "settings" {
  source = "./modules/settings"

  cluster_name      = var.cluster_name
  environment       = var.environment
  worker_nodes      = var.worker_nodes
  node_image        = var.node_image
  repository_url    = var.repository_url
  git_branch        = var.git_branch
  git_credentials   = nonsensitive(var.git_token != null)
  sops_age_key_file = var.sops_age_key_file
  listen_address    = var.listen_address
  http_host_port    = var.http_host_port
  https_host_port   = var.https_host_port
  flux_version      = var.flux_version
}

resource "kind_cluster" "this" {
  name       = module.settings.cluster_name
  node_image = module.settings.node_image
  # Its own kubeconfig file next to the state, so a rehearsal never edits ~/.kube/config.
  kubeconfig_path = abspath("${path.root}/.kube/${module.settings.kubeconfig_file_name}")
  wait_for_ready  = true

  kind_config {
    kind        = "Cluster"
    api_version = "kind.x-k8s.io/v1alpha4"

    dynamic "node" {
      for_each = module.settings.nodes
      content {
        role = node.value.role

        dynamic "extra_port_mappings" {
          for_each = node.value.port_mappings
          content {
            container_port = extra_port_mappings.value.container_port
            host_port      = extra_port_mappings.value.host_port
            listen_address = extra_port_mappings.value.listen_address
            protocol       = extra_port_mappings.value.protocol
          }
        }
      }
    }
  }
}

# Created here because the Secrets below must exist before Flux's first sync. The Flux manifests
# the operator applies include this Namespace with Flux's own labels (part-of: flux, Pod Security
# level): Flux owns its metadata from then on.
resource "kubernetes_namespace_v1" "flux_system" {
  metadata {
    name = "flux-system"
  }

  lifecycle {
    ignore_changes = [metadata]
  }
}

# The age identity kustomize-controller decrypts flux/secrets/<environment> with. Only the
# private key's file content goes in; it is in the state, which is why the state stays local
# (a rehearsal cluster's throwaway key, never a production key: see README.md).
resource "kubernetes_secret_v1" "sops_age" {
  count = var.sops_age_key_file == null ? 0 : 1

  metadata {
    name      = "sops-age"
    namespace = kubernetes_namespace_v1.flux_system.metadata[0].name
    labels    = module.settings.labels
  }

  data = {
    "age.agekey" = file(var.sops_age_key_file)
  }
}

# Git credentials in the `flux bootstrap` shape (username/password over HTTPS), used by the
# FluxInstance sync (pullSecret) and by the image automation that pushes tag updates.
resource "kubernetes_secret_v1" "git_auth" {
  # Whether a token was given is not secret; the token is.
  count = nonsensitive(var.git_token != null) ? 1 : 0

  metadata {
    name      = "flux-system"
    namespace = kubernetes_namespace_v1.flux_system.metadata[0].name
    labels    = module.settings.labels
  }

  data = {
    username = "git"
    password = var.git_token
  }
}

resource "helm_release" "flux_operator" {
  name       = "flux-operator"
  namespace  = kubernetes_namespace_v1.flux_system.metadata[0].name
  repository = local.flux_operator_charts
  chart      = "flux-operator"
  version    = local.flux_operator_chart_version
  wait       = true
  # Seconds: the operator is one Deployment; 5 minutes covers a cold image pull on a laptop.
  timeout = 300
}

resource "helm_release" "flux_instance" {
  name       = "flux"
  namespace  = kubernetes_namespace_v1.flux_system.metadata[0].name
  repository = local.flux_operator_charts
  chart      = "flux-instance"
  version    = local.flux_operator_chart_version
  values     = [yamlencode(module.settings.flux_instance_values)]
  wait       = true
  timeout    = 300

  # The operator must run (and own the FluxInstance CRD) before the instance is applied, and the
  # credentials must exist before the first sync reads them.
  depends_on = [
    helm_release.flux_operator,
    kubernetes_secret_v1.sops_age,
    kubernetes_secret_v1.git_auth,
  ]
}
