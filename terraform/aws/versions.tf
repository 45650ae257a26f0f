terraform {
  # 1.11: ephemeral resources and write-only attributes keep the generated secrets out of the
  # state (secrets.tf).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }
}
