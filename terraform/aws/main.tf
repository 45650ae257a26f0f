# Forge's AWS infrastructure: a VPC (public and private subnets across zones), an EKS cluster
# with a managed node group, one RDS PostgreSQL instance per registry (catalog, identity),
# Secrets Manager entries for the chart, and the IAM roles around them. NATS runs in the
# cluster (the chart's JetStream StatefulSet). README.md has the inputs, outputs and how they
# feed the Helm chart; docs/deployment.md, "Terraform (AWS)", the walk-through.

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  azs       = length(var.availability_zones) > 0 ? var.availability_zones : slice(data.aws_availability_zones.available.names, 0, 3)
  partition = data.aws_partition.current.partition
  tags      = merge({ "app.kubernetes.io/part-of" = "forge", "forge/stack" = var.name }, var.tags)

  # The two registries, each with its own RDS instance and database.
  registries = {
    catalog  = { db_name = "forge_catalog", username = "forge_catalog" }
    identity = { db_name = "forge_identity", username = "forge_identity" }
  }
}
