# What the next steps need: kubectl access, the External Secrets Operator's role and manifests,
# and the Helm chart's values (README.md, "Feeding the chart").

output "region" {
  description = "The AWS region everything is in."
  value       = data.aws_region.current.name
}

output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "The private subnets (nodes, pods, databases), one per availability zone."
  value       = aws_subnet.private[*].id
}

output "private_subnet_cidrs" {
  description = "The private subnets' ranges (where the databases live: the chart's global.postgresql.external.egressCIDRs)."
  value       = aws_subnet.private[*].cidr_block
}

output "public_subnet_ids" {
  description = "The public subnets (internet-facing load balancers, NAT gateways)."
  value       = aws_subnet.public[*].id
}

output "cluster_name" {
  description = "The EKS cluster's name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The Kubernetes API's URL."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "The Kubernetes API's CA certificate (base64 PEM)."
  value       = one(aws_eks_cluster.this.certificate_authority[*].data)
}

output "kubeconfig_command" {
  description = "The command that adds the cluster to ~/.kube/config."
  value       = "aws eks update-kubeconfig --region ${data.aws_region.current.name} --name ${aws_eks_cluster.this.name}"
}

output "oidc_provider_arn" {
  description = "The cluster's OIDC provider, for further IAM roles of service accounts."
  value       = aws_iam_openid_connect_provider.eks.arn
}

output "node_role_arn" {
  description = "The managed node group's IAM role."
  value       = aws_iam_role.node.arn
}

output "external_secrets_role_arn" {
  description = "The IAM role the External Secrets Operator's service account is annotated with (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.external_secrets.arn
}

output "databases" {
  description = "Per registry (catalog, identity): the RDS endpoint, port, database and user."
  value = {
    for key, db in aws_db_instance.this : key => {
      address  = db.address
      port     = db.port
      database = db.db_name
      username = db.username
      instance = db.identifier
    }
  }
}

output "secret_arns" {
  description = "The Secrets Manager entries: forge (jwt-secret, secret-keys, session-secret, admin-password) and each registry database's (dsn, username, password, host, port, dbname)."
  value = merge(
    { forge = aws_secretsmanager_secret.forge.arn },
    { for key, s in aws_secretsmanager_secret.db : "${key}_db" => s.arn },
  )
}

output "secret_names" {
  description = "The Secrets Manager entries' names (what an ExternalSecret's remoteRef.key names)."
  value = merge(
    { forge = aws_secretsmanager_secret.forge.name },
    { for key, s in aws_secretsmanager_secret.db : "${key}_db" => s.name },
  )
}

locals {
  helm_values = {
    global = merge(
      var.public_url == "" ? {} : { publicUrl = var.public_url },
      {
        secrets = { existingSecret = var.kubernetes_secret_names.forge }
        postgresql = {
          catalog  = { existingSecret = var.kubernetes_secret_names.catalog_db, existingSecretKey = "dsn" }
          identity = { existingSecret = var.kubernetes_secret_names.identity_db, existingSecretKey = "dsn" }
          external = { port = 5432, egressCIDRs = aws_subnet.private[*].cidr_block }
        }
      },
    )
  }

  # The External Secrets Operator's resources in Forge's namespace: a store reading Secrets
  # Manager with the operator's own IAM role, and the three Kubernetes Secrets the chart names.
  external_secrets = concat(
    [{
      apiVersion = "external-secrets.io/v1"
      kind       = "SecretStore"
      metadata   = { name = "${var.name}-aws", namespace = var.forge_namespace }
      spec = {
        provider = { aws = { service = "SecretsManager", region = data.aws_region.current.name } }
      }
    }],
    [{
      apiVersion = "external-secrets.io/v1"
      kind       = "ExternalSecret"
      metadata   = { name = var.kubernetes_secret_names.forge, namespace = var.forge_namespace }
      spec = {
        refreshInterval = "1h"
        secretStoreRef  = { kind = "SecretStore", name = "${var.name}-aws" }
        target          = { name = var.kubernetes_secret_names.forge, creationPolicy = "Owner" }
        dataFrom        = [{ extract = { key = aws_secretsmanager_secret.forge.name } }]
      }
    }],
    [for key in keys(local.registries) : {
      apiVersion = "external-secrets.io/v1"
      kind       = "ExternalSecret"
      metadata   = { name = var.kubernetes_secret_names["${key}_db"], namespace = var.forge_namespace }
      spec = {
        refreshInterval = "1h"
        secretStoreRef  = { kind = "SecretStore", name = "${var.name}-aws" }
        target          = { name = var.kubernetes_secret_names["${key}_db"], creationPolicy = "Owner" }
        data = [{
          secretKey = "dsn"
          remoteRef = { key = aws_secretsmanager_secret.db[key].name, property = "dsn" }
        }]
      }
    }],
  )
}

output "helm_values" {
  description = "Values for the helm/forge chart (YAML): the Secrets and external databases this module made. `terraform output -raw helm_values > values-aws.yaml`."
  value       = yamlencode(local.helm_values)
}

output "external_secrets_manifests" {
  description = "The SecretStore and ExternalSecrets (YAML, several documents) that make the chart's Kubernetes Secrets from Secrets Manager: `terraform output -raw external_secrets_manifests | kubectl apply -f -`."
  value       = join("---\n", [for doc in local.external_secrets : yamlencode(doc)])
}
