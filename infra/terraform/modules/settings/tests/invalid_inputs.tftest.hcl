# Each run feeds one bad value and expects exactly that variable's validation to fail the plan.
# A rule that stopped firing would make its run fail ("expected failure … did not occur").

variables {
  cluster_name   = "blueprint-dev"
  environment    = "dev"
  node_image     = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
  repository_url = "https://github.com/sre-blueprint/sre-blueprint"
}

run "cluster_name_with_uppercase_is_rejected" {
  command = plan
  variables {
    cluster_name = "Blueprint"
  }
  expect_failures = [var.cluster_name]
}

run "cluster_name_too_long_for_node_hostnames_is_rejected" {
  command = plan
  variables {
    # 50 characters: `<name>-control-plane` would exceed a 63-character hostname.
    cluster_name = "a234567890123456789012345678901234567890123456789z"
  }
  expect_failures = [var.cluster_name]
}

run "cluster_name_ending_in_a_hyphen_is_rejected" {
  command = plan
  variables {
    cluster_name = "blueprint-"
  }
  expect_failures = [var.cluster_name]
}

run "unknown_environment_is_rejected" {
  command = plan
  variables {
    environment = "prod"
  }
  expect_failures = [var.environment]
}

run "too_many_workers_are_rejected" {
  command = plan
  variables {
    worker_nodes = 5
  }
  expect_failures = [var.worker_nodes]
}

run "fractional_workers_are_rejected" {
  command = plan
  variables {
    worker_nodes = 1.5
  }
  expect_failures = [var.worker_nodes]
}

run "node_image_without_digest_is_rejected" {
  command = plan
  variables {
    node_image = "kindest/node:v1.34.0"
  }
  expect_failures = [var.node_image]
}

run "node_image_of_an_unchecked_kubernetes_version_is_rejected" {
  command = plan
  variables {
    node_image = "kindest/node:v1.29.2@sha256:51a1434a5397193442f0be2a297b488b6c919ce8a3931be0ce822606ea5ca245"
  }
  expect_failures = [var.node_image]
}

run "plain_http_repository_is_rejected" {
  command = plan
  variables {
    repository_url = "http://github.com/sre-blueprint/sre-blueprint"
  }
  expect_failures = [var.repository_url]
}

run "repository_url_with_credentials_is_rejected" {
  command = plan
  variables {
    repository_url = "https://git:ghp_token@github.com/sre-blueprint/sre-blueprint"
  }
  expect_failures = [var.repository_url]
}

run "branch_with_double_dot_is_rejected" {
  command = plan
  variables {
    git_branch = "feature..x"
  }
  expect_failures = [var.git_branch]
}

run "hostname_as_listen_address_is_rejected" {
  command = plan
  variables {
    listen_address = "localhost"
  }
  expect_failures = [var.listen_address]
}

run "port_out_of_range_is_rejected" {
  command = plan
  variables {
    http_host_port = 70000
  }
  expect_failures = [var.http_host_port]
}

run "same_port_for_http_and_https_is_rejected" {
  command = plan
  variables {
    http_host_port  = 8080
    https_host_port = 8080
  }
  expect_failures = [var.https_host_port]
}

run "flux_minor_range_is_rejected" {
  command = plan
  variables {
    flux_version = "2.x"
  }
  expect_failures = [var.flux_version]
}

run "missing_age_key_file_is_rejected" {
  command = plan
  variables {
    sops_age_key_file = "tests/no-such.agekey"
  }
  expect_failures = [var.sops_age_key_file]
}
