# What the settings module computes from valid inputs. `command = plan` with no provider: this
# runs offline with `tofu test` (see infra/terraform/README.md).

variables {
  cluster_name   = "blueprint-dev"
  environment    = "dev"
  node_image     = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
  repository_url = "https://github.com/sre-blueprint/sre-blueprint"
}

run "defaults_follow_the_environment" {
  command = plan

  assert {
    condition     = output.flux_path == "flux/clusters/dev"
    error_message = "Flux must reconcile flux/clusters/<environment>."
  }
  assert {
    condition     = output.app_namespace == "blueprint-dev"
    error_message = "The app namespace must be blueprint-<environment>."
  }
  assert {
    condition     = output.kubeconfig_context == "kind-blueprint-dev" && output.kubeconfig_file_name == "blueprint-dev.kubeconfig"
    error_message = "kind names the context kind-<cluster name>."
  }
  assert {
    condition     = output.labels["app.kubernetes.io/instance"] == "blueprint-dev" && output.labels["app.kubernetes.io/part-of"] == "sre-blueprint"
    error_message = "Labels must follow the repository's app.kubernetes.io scheme."
  }
}

run "control_plane_publishes_the_gateway_node_ports" {
  command = plan

  assert {
    condition     = length(output.nodes) == 2 && output.nodes[0].role == "control-plane" && output.nodes[1].role == "worker"
    error_message = "One control plane then worker_nodes (default 1) workers."
  }
  assert {
    condition = (
      [for m in output.nodes[0].port_mappings : "${m.listen_address}:${m.host_port}->${m.container_port}"]
      == ["127.0.0.1:80->30080", "127.0.0.1:443->30443"]
    )
    error_message = "Host 80/443 on 127.0.0.1 must reach the Gateway node ports 30080/30443."
  }
  assert {
    condition     = length(output.nodes[1].port_mappings) == 0
    error_message = "Only the control-plane node publishes ports (two nodes cannot bind one host port)."
  }
  assert {
    condition     = output.gateway_node_ports.http >= 30000 && output.gateway_node_ports.https <= 32767
    error_message = "Gateway node ports must be in the default NodePort range."
  }
  assert {
    condition     = output.gateway_urls.http == "http://127.0.0.1" && output.gateway_urls.https == "https://127.0.0.1"
    error_message = "Default ports must not appear in the Gateway URLs."
  }
}

run "flux_instance_syncs_the_environment_read_only" {
  command = plan

  assert {
    condition = (
      output.flux_instance_values.instance.sync.url == "https://github.com/sre-blueprint/sre-blueprint"
      && output.flux_instance_values.instance.sync.ref == "refs/heads/main"
      && output.flux_instance_values.instance.sync.path == "flux/clusters/dev"
    )
    error_message = "The FluxInstance must sync refs/heads/main at flux/clusters/dev."
  }
  assert {
    condition     = !contains(keys(output.flux_instance_values.instance.sync), "pullSecret")
    error_message = "Without credentials the sync must not name a pull Secret."
  }
  assert {
    condition = alltrue([
      for c in ["kustomize-controller", "image-reflector-controller", "image-automation-controller"] :
      contains(output.flux_instance_values.instance.components, c)
    ])
    error_message = "The image automation and kustomize controllers must be installed."
  }
  assert {
    condition     = output.flux_instance_values.instance.distribution.version == "2.9.x"
    error_message = "The default Flux version is the pinned patch range."
  }
}

run "rootless_ports_and_credentials" {
  command = plan

  variables {
    cluster_name    = "rehearsal"
    environment     = "production"
    worker_nodes    = 0
    http_host_port  = 8080
    https_host_port = 8443
    listen_address  = "0.0.0.0"
    git_branch      = "release/0.1"
    git_credentials = true
  }

  assert {
    condition     = length(output.nodes) == 1 && output.nodes[0].role == "control-plane"
    error_message = "worker_nodes = 0 leaves the control plane alone."
  }
  assert {
    condition     = output.gateway_urls.http == "http://0.0.0.0:8080" && output.gateway_urls.https == "https://0.0.0.0:8443"
    error_message = "Non-default host ports must appear in the Gateway URLs."
  }
  assert {
    condition     = output.flux_instance_values.instance.sync.pullSecret == "flux-system"
    error_message = "With credentials the sync must use the flux-system Secret."
  }
  assert {
    condition     = output.flux_instance_values.instance.sync.ref == "refs/heads/release/0.1" && output.flux_path == "flux/clusters/production"
    error_message = "Branch and environment must reach the FluxInstance sync."
  }
}

run "age_key_file_that_exists_is_accepted" {
  command = plan

  variables {
    # Any existing file passes the check; the module never reads it.
    sops_age_key_file = "tests/settings.tftest.hcl"
  }

  assert {
    condition     = output.environment == "dev"
    error_message = "A valid age key path must not change the settings."
  }
}
