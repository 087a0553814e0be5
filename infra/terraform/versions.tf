terraform {
  # OpenTofu 1.12 (what the repository's checks run) and Terraform 1.11 both read this module.
  required_version = ">= 1.11.0"

  # Exact versions: a provider upgrade is a reviewed commit. `.terraform.lock.hcl` (hashes for
  # every platform) is written by the first `tofu init` on a machine that reaches the registry;
  # see README.md.
  required_providers {
    # KIND clusters as a resource; 0.10.0 embeds kind v0.30.0, the release whose node images the
    # default node_image comes from.
    kind = {
      source  = "tehcyx/kind"
      version = "0.10.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "2.38.0"
    }
    # Helm provider 3: `kubernetes` is an attribute (object), no longer a block.
    helm = {
      source  = "hashicorp/helm"
      version = "3.0.2"
    }
  }
}
