# One RDS PostgreSQL instance per registry (catalog, identity): the identity data (users,
# password hashes, tokens, audit) shares no server with the catalog, and each is sized,
# backed up and restored on its own. Private subnets only, reachable from the cluster's nodes
# alone, encrypted at rest with this module's KMS key and in transit (rds.force_ssl).

resource "aws_kms_key" "data" {
  description             = "${var.name}: RDS storage and Secrets Manager entries"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db"
  subnet_ids = aws_subnet.private[*].id
  tags       = local.tags
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL of the Forge registries: from the EKS cluster only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(local.tags, { Name = "${var.name}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_cluster" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the EKS cluster (nodes and pods)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  tags                         = local.tags
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-postgres${var.postgres_version}"
  family = "postgres${var.postgres_version}"
  tags   = local.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "this" {
  for_each = local.registries

  identifier     = "${var.name}-${each.key}"
  engine         = "postgres"
  engine_version = var.postgres_version
  instance_class = var.db_instance_class[each.key]

  db_name  = each.value.db_name
  username = each.value.username
  # Write-only: sent to RDS when db_password_version changes, never stored in the state.
  password_wo         = local.secret_values["${each.key}_db"]
  password_wo_version = var.db_password_version

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.this.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = var.db_backup_window
  maintenance_window        = var.db_maintenance_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = !var.deletion_protection
  final_snapshot_identifier = "${var.name}-${each.key}-final"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.data.arn
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  iam_database_authentication_enabled = false

  tags = merge(local.tags, { "forge/registry" = each.key })
}
