terraform {
  # `tofu test` runs this module with no provider at all, so it works offline; the version floor
  # is the one of the root module (OpenTofu 1.12 and Terraform 1.11 both satisfy it).
  required_version = ">= 1.11.0"
}
