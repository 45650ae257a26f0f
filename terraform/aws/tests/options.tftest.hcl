# Inputs that change what is built, and inputs refused by their validation.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_resource "aws_eks_cluster" {
    defaults = {
      identity              = [{ oidc = [{ issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }] }]
      certificate_authority = [{ data = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" }]
      endpoint              = "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
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
      arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
    }
  }
}

run "deletion_protection_off_for_a_throwaway_stack" {
  command = plan

  variables {
    name                = "forge-dev"
    deletion_protection = false
    single_nat_gateway  = true
    db_multi_az         = false
    availability_zones  = ["us-east-1a", "us-east-1b"]
    public_url          = "https://forge.example.com"
    cluster_admin_arns  = ["arn:aws:iam::123456789012:role/platform"]
    generate_secrets    = false
    secret_values = {
      jwt_secret     = "jwt0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
      session_secret = "session0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
      secret_keys    = "k2:c2VhbGluZzAxMjM0NTY3ODlhYmNkZWZnaGlqa2xtbm8=,k1:a2V5MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnM="
      admin_password = "admin0123456789abcdefghi"
      catalog_db     = "catalog0123456789abcdefghijklmnopqrstuvw"
      identity_db    = "identity0123456789abcdefghijklmnopqrstuv"
    }
  }

  assert {
    condition     = aws_secretsmanager_secret_version.forge.secret_string == null
    error_message = "given secrets stay out of the plan"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : !db.deletion_protection && db.skip_final_snapshot && !db.multi_az])
    error_message = "deletion_protection = false lets the databases go without a final snapshot"
  }

  assert {
    condition     = alltrue([for db in aws_db_instance.this : db.publicly_accessible == false && db.storage_encrypted])
    error_message = "private and encrypted whatever the options"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 2
    error_message = "one NAT gateway serves both private subnets"
  }

  assert {
    condition     = length(aws_subnet.private) == 2 && aws_subnet.private[1].availability_zone == "us-east-1b"
    error_message = "the given zones are used"
  }

  assert {
    condition     = aws_eks_cluster.this.name == "forge-dev" && aws_db_instance.this["catalog"].identifier == "forge-dev-catalog"
    error_message = "names come from var.name"
  }

  assert {
    condition     = aws_eks_access_policy_association.admin["arn:aws:iam::123456789012:role/platform"].access_scope[0].type == "cluster"
    error_message = "the given admins get cluster access"
  }

  assert {
    condition     = yamldecode(output.helm_values).global.publicUrl == "https://forge.example.com"
    error_message = "public_url goes to the chart's global.publicUrl"
  }
}

run "private_api_endpoint" {
  command = plan

  variables {
    cluster_endpoint_public_access = false
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "the API can be made reachable from the VPC alone"
  }
}

# Each refused input alone would fail the same way; one plan refuses them all (every listed
# validation must fail for the run to pass), which keeps the suite quick.
run "bad_inputs_are_refused" {
  command = plan

  variables {
    name                     = "Forge_Prod"
    vpc_cidr                 = "10.0.0.0/24"
    availability_zones       = ["us-east-1a"]
    db_backup_retention_days = 0
    node_min_size            = 4
    node_desired_size        = 3
    node_max_size            = 6
    cluster_admin_arns       = ["alice"]
    generate_secrets         = false
    secret_values = {
      jwt_secret     = "too-short"
      session_secret = "session0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
      secret_keys    = "not-a-key"
      admin_password = "admin0123456789abcdefghi"
      catalog_db     = "catalog0123456789abcdefghijklmnopqrstuvw"
      identity_db    = "identity0123456789abcdefghijklmnopqrstuv"
    }
  }

  expect_failures = [
    var.name,
    var.vpc_cidr,
    var.availability_zones,
    var.db_backup_retention_days,
    var.node_max_size,
    var.cluster_admin_arns,
    var.secret_values,
  ]
}

run "given_secrets_are_required_without_generation" {
  command = plan

  variables {
    generate_secrets = false
  }

  expect_failures = [var.secret_values]
}
