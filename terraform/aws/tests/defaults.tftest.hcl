# The module with its defaults, planned and applied against a mocked AWS provider (no account,
# no network): the properties an operator relies on hold.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_eks_cluster" {
    defaults = {
      identity              = [{ oidc = [{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE" }] }]
      certificate_authority = [{ data = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" }]
      endpoint              = "https://EXAMPLE.gr7.eu-west-1.eks.amazonaws.com"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/forge-mock"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
    }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:forge-AbCdEf"
    }
  }

  mock_resource "aws_db_instance" {
    defaults = {
      address = "forge-db.abc123.eu-west-1.rds.amazonaws.com"
      port    = 5432
    }
  }
}

run "databases_are_private_encrypted_and_protected" {
  command = apply

  assert {
    condition     = toset(keys(aws_db_instance.this)) == toset(["catalog", "identity"])
    error_message = "one RDS instance per registry"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.publicly_accessible == false])
    error_message = "a database is publicly accessible"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.storage_encrypted && db.kms_key_id == aws_kms_key.data.arn])
    error_message = "a database's storage is not encrypted with the module's key"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.deletion_protection && !db.skip_final_snapshot])
    error_message = "deletion protection and a final snapshot are the default"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.backup_retention_period == 14 && db.multi_az])
    error_message = "backups (14 days) and Multi-AZ are the default"
  }

  assert {
    condition     = aws_db_instance.this["catalog"].db_name == "forge_catalog" && aws_db_instance.this["identity"].db_name == "forge_identity"
    error_message = "the databases are named as forge up names them"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.password == null && db.password_wo == null])
    error_message = "a database password reached the state"
  }

  assert {
    condition     = one([for p in aws_db_parameter_group.this.parameter : p.value if p.name == "rds.force_ssl"]) == "1"
    error_message = "the databases must refuse unencrypted connections"
  }

  assert {
    condition     = toset(aws_db_subnet_group.this.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "the databases live in the private subnets only"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_cluster.referenced_security_group_id == aws_eks_cluster.this.vpc_config[0].cluster_security_group_id && aws_vpc_security_group_ingress_rule.db_from_cluster.cidr_ipv4 == null
    error_message = "the databases take connections from the cluster's security group alone"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_cluster.from_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_cluster.to_port == 5432
    error_message = "the databases' ingress is the PostgreSQL port alone"
  }
}

run "subnets_span_three_zones_and_private_ones_stay_private" {
  # Planned over the state the first run applied: every value is known.
  command = plan

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "one private and one public subnet in each of the first 3 zones"
  }

  assert {
    condition     = length(distinct(aws_subnet.private[*].availability_zone)) == 3
    error_message = "the private subnets are in different zones"
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.private, aws_subnet.public) : s.map_public_ip_on_launch == false])
    error_message = "no subnet hands out public addresses"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.nat_gateway_id != null && r.gateway_id == null])
    error_message = "the private subnets' way out is a NAT gateway, never the internet gateway"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "one NAT gateway per zone by default"
  }

  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["kubernetes.io/role/internal-elb"] == "1"]) && alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1"])
    error_message = "the subnets are tagged for the AWS load balancer controller"
  }

  assert {
    condition     = length(setintersection(toset(aws_subnet.private[*].cidr_block), toset(aws_subnet.public[*].cidr_block))) == 0
    error_message = "subnet ranges overlap"
  }
}

run "cluster_and_nodes" {
  # Planned over the state the first run applied: every value is known.
  command = plan

  assert {
    condition     = toset(aws_eks_cluster.this.vpc_config[0].subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "the control plane's interfaces are in the private subnets"
  }

  assert {
    condition     = toset(aws_eks_node_group.default.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "the nodes are in the private subnets"
  }

  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == aws_kms_key.eks.arn
    error_message = "Kubernetes Secrets are encrypted with the module's key"
  }

  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API"
    error_message = "access entries, not the aws-auth ConfigMap"
  }

  assert {
    condition     = aws_eks_node_group.default.scaling_config[0].min_size == 3
    error_message = "3 nodes at least by default"
  }

  assert {
    condition     = aws_eks_addon.ebs_csi.service_account_role_arn == aws_iam_role.ebs_csi.arn
    error_message = "the EBS CSI driver (the chart's volumes) has its IAM role"
  }

  assert {
    condition     = jsondecode(aws_iam_role.external_secrets.assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE:sub"] == "system:serviceaccount:external-secrets:external-secrets"
    error_message = "only the External Secrets Operator's service account assumes its role"
  }

  assert {
    condition     = length(jsondecode(aws_iam_role_policy.external_secrets.policy).Statement[0].Resource) == 3
    error_message = "the External Secrets Operator reads this module's 3 entries, and no other"
  }
}

run "secrets_are_write_only_and_feed_the_chart" {
  # Planned over the state the first run applied: every value is known.
  command = plan

  assert {
    condition     = aws_secretsmanager_secret_version.forge.secret_string == null && alltrue([for v in aws_secretsmanager_secret_version.db : v.secret_string == null])
    error_message = "a secret value reached the state"
  }

  assert {
    condition     = aws_secretsmanager_secret.forge.kms_key_id == aws_kms_key.data.arn && alltrue([for s in aws_secretsmanager_secret.db : s.kms_key_id == aws_kms_key.data.arn])
    error_message = "the entries are encrypted with the module's key"
  }

  assert {
    condition     = yamldecode(output.helm_values).global.secrets.existingSecret == "forge-secrets"
    error_message = "helm_values names the Secret of the chart's secrets"
  }

  assert {
    condition     = yamldecode(output.helm_values).global.postgresql.catalog.existingSecret == "forge-catalog-db" && yamldecode(output.helm_values).global.postgresql.identity.existingSecretKey == "dsn"
    error_message = "helm_values names each registry's DSN Secret"
  }

  assert {
    condition     = yamldecode(output.helm_values).global.postgresql.external.egressCIDRs == aws_subnet.private[*].cidr_block
    error_message = "the registry may reach the private subnets, where the databases are"
  }

  assert {
    condition     = !can(yamldecode(output.helm_values).global.publicUrl)
    error_message = "no public URL unless one is given"
  }

  assert {
    condition     = length(split("---\n", output.external_secrets_manifests)) == 4
    error_message = "a SecretStore and 3 ExternalSecrets"
  }

  assert {
    condition     = yamldecode(split("---\n", output.external_secrets_manifests)[1]).spec.target.name == "forge-secrets"
    error_message = "the ExternalSecret writes the Secret the chart reads"
  }

  assert {
    condition     = output.databases.identity.database == "forge_identity"
    error_message = "the databases output names each registry's database"
  }
}
