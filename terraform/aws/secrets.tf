# Secrets Manager entries the chart's Kubernetes Secrets are made from (through the External
# Secrets Operator, outputs.tf): Forge's own secrets under the keys the chart reads, and one
# entry per registry database with its DSN. The values are generated at apply time (below) or
# given (var.secret_values), and written with write-only arguments only,
# so neither the plan nor the state holds a secret. Terraform writes each entry's first version
# only (and a database's again when db_password_version changes): rotate the others in Secrets
# Manager itself.

locals {
  # 256 random bits each: uuid() draws 128 from the OS's random source at every run. These
  # values only ever go into write-only arguments, so a run's values are sent when a version
  # changes (the first apply, db_password_version) and are kept nowhere by Terraform. (An
  # ephemeral aws_secretsmanager_random_password would do as well, but terraform test's mocked
  # providers cannot open ephemeral resources yet, and no random provider is at hand offline.)
  random_hex = {
    for name in ["jwt", "session", "sealing", "admin", "catalog", "identity"] :
    name => replace("${uuid()}${uuid()}", "-", "")
  }
  base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

  secret_values = var.generate_secrets ? {
    jwt_secret     = local.random_hex.jwt
    session_secret = local.random_hex.session
    # FORGE_SECRET_KEYS reads <id>:<base64 of 32 bytes>: 32 characters, each one of 64 chosen
    # by a random byte (192 random bits), are the AES-256 key's bytes.
    secret_keys = "k1:${base64encode(join("", [
      for i in range(32) : substr(local.base64_alphabet, parseint(substr(local.random_hex.sealing, i * 2, 2), 16) % 64, 1)
    ]))}"
    admin_password = substr(local.random_hex.admin, 0, 32)
    catalog_db     = local.random_hex.catalog
    identity_db    = local.random_hex.identity
  } : var.secret_values
}

resource "aws_secretsmanager_secret" "forge" {
  name                    = "${var.name}/forge"
  description             = "Forge: JWT secret, sealing keys, session secret, platform admin password (the chart's global.secrets.existingSecret keys)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "forge" {
  secret_id = aws_secretsmanager_secret.forge.id
  secret_string_wo = jsonencode({
    "jwt-secret"     = local.secret_values.jwt_secret
    "secret-keys"    = local.secret_values.secret_keys
    "session-secret" = local.secret_values.session_secret
    "admin-password" = local.secret_values.admin_password
  })
  secret_string_wo_version = 1
}

resource "aws_secretsmanager_secret" "db" {
  for_each                = local.registries
  name                    = "${var.name}/${each.key}-db"
  description             = "Forge ${each.key} registry database: its DSN (key dsn) and parts"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(local.tags, { "forge/registry" = each.key })
}

resource "aws_secretsmanager_secret_version" "db" {
  for_each  = local.registries
  secret_id = aws_secretsmanager_secret.db[each.key].id
  secret_string_wo = jsonencode({
    dsn      = "postgresql://${each.value.username}:${local.secret_values["${each.key}_db"]}@${aws_db_instance.this[each.key].address}:${aws_db_instance.this[each.key].port}/${each.value.db_name}?sslmode=require"
    username = each.value.username
    password = local.secret_values["${each.key}_db"]
    host     = aws_db_instance.this[each.key].address
    port     = aws_db_instance.this[each.key].port
    dbname   = each.value.db_name
  })
  secret_string_wo_version = var.db_password_version
}
