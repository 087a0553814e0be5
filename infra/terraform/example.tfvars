# A staging rehearsal on a rootless engine: copy to <name>.tfvars (ignored by Git) and run
# `tofu apply -var-file=<name>.tfvars`. Every value is checked by modules/settings.
cluster_name      = "blueprint-staging"
environment       = "staging"
worker_nodes      = 2
repository_url    = "https://github.com/sre-blueprint/sre-blueprint"
git_branch        = "main"
http_host_port    = 8080
https_host_port   = 8443
sops_age_key_file = "staging.agekey"
