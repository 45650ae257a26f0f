# IAM for the workloads. Forge's services need no AWS access (they read their secrets from
# Kubernetes Secrets and talk to RDS with passwords), so they get no role. The External
# Secrets Operator does: it reads this module's entries (and nothing else) to write the
# Kubernetes Secrets the chart names. The node role and the EBS CSI driver's role are in eks.tf.

resource "aws_iam_role" "external_secrets" {
  name               = "${var.name}-external-secrets"
  assume_role_policy = local.irsa_trust.external_secrets
  tags               = local.tags
}

resource "aws_iam_role_policy" "external_secrets" {
  name = "read-forge-secrets"
  role = aws_iam_role.external_secrets.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "ReadForgeSecrets"
        Effect = "Allow"
        Action = [
          "secretsmanager:GetSecretValue",
          "secretsmanager:DescribeSecret",
          "secretsmanager:ListSecretVersionIds",
        ]
        Resource = concat([aws_secretsmanager_secret.forge.arn], [for s in aws_secretsmanager_secret.db : s.arn])
      },
      {
        Sid      = "DecryptThem"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.data.arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.amazonaws.com" }
        }
      },
    ]
  })
}
