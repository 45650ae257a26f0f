# Every input of the module; README.md lists them with what they feed.

variable "name" {
  description = "Prefix of every resource's name (the EKS cluster is named after it): lower-case letters, digits and hyphens, starting with a letter."
  type        = string
  default     = "forge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 32 lower-case letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

# --- network ------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "The VPC's IPv4 range. Public subnets are /24s at its start, private ones the next /20s (with a /16), one of each per availability zone."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix from /16 to /20."
  }
}

variable "availability_zones" {
  description = "The availability zones to spread subnets, nodes and databases over (2 or 3). Empty: the region's first 3 available."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || (length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3)
    error_message = "availability_zones must name 2 or 3 zones (EKS and a Multi-AZ database need at least 2), or be empty."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every private subnet (cheaper) instead of one per availability zone (survives the loss of a zone)."
  type        = bool
  default     = false
}

# --- EKS ----------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "The EKS control plane's Kubernetes version (major.minor)."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must read like 1.33."
  }
}

variable "cluster_endpoint_public_access" {
  description = "Whether the Kubernetes API is reachable from the internet (from cluster_endpoint_public_access_cidrs); it is always reachable from inside the VPC."
  type        = bool
  default     = true
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "The CIDRs allowed to reach the public Kubernetes API endpoint. Narrow it to your offices and CI."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.cluster_endpoint_public_access_cidrs) > 0 && alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "cluster_endpoint_public_access_cidrs must be a non-empty list of CIDRs."
  }
}

variable "cluster_admin_arns" {
  description = "IAM principals (users or roles) given cluster-admin through EKS access entries, besides the identity that creates the cluster."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/.+$", a))])
    error_message = "cluster_admin_arns must hold IAM user or role ARNs."
  }
}

variable "cluster_log_types" {
  description = "Control plane logs sent to CloudWatch."
  type        = list(string)
  default     = ["api", "audit", "authenticator"]

  validation {
    condition     = alltrue([for t in var.cluster_log_types : contains(["api", "audit", "authenticator", "controllerManager", "scheduler"], t)])
    error_message = "cluster_log_types may hold api, audit, authenticator, controllerManager and scheduler."
  }
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group (the first that has capacity is used)."
  type        = list(string)
  default     = ["m6i.large"]

  validation {
    condition     = length(var.node_instance_types) > 0
    error_message = "node_instance_types must name at least one instance type."
  }
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT nodes."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_disk_size_gb" {
  description = "Root volume of each node, in GiB."
  type        = number
  default     = 50

  validation {
    condition     = var.node_disk_size_gb >= 20
    error_message = "node_disk_size_gb must be at least 20."
  }
}

variable "node_min_size" {
  description = "Fewest nodes. The chart's defaults (a 3-node NATS, two replicas of several services, spread by anti-affinity) want 3."
  type        = number
  default     = 3

  validation {
    condition     = var.node_min_size >= 1
    error_message = "node_min_size must be at least 1."
  }
}

variable "node_desired_size" {
  description = "Nodes at creation; later changes are left to the cluster autoscaler (ignored by Terraform)."
  type        = number
  default     = 3
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
  default     = 6

  validation {
    condition     = var.node_max_size >= var.node_min_size && var.node_desired_size >= var.node_min_size && var.node_desired_size <= var.node_max_size
    error_message = "node sizes must satisfy node_min_size <= node_desired_size <= node_max_size."
  }
}

# --- the databases ------------------------------------------------------------------------

variable "postgres_version" {
  description = "PostgreSQL major version of both RDS instances (minor versions upgrade automatically in the maintenance window)."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^1[5-9]$", var.postgres_version))
    error_message = "postgres_version must be a major version from 15 to 19."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of each database, per registry (catalog, identity)."
  type        = object({ catalog = string, identity = string })
  default     = { catalog = "db.t4g.medium", identity = "db.t4g.small" }

  validation {
    condition     = alltrue([for c in values(var.db_instance_class) : startswith(c, "db.")])
    error_message = "db_instance_class values must be RDS instance classes (db.*)."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial storage of each database, in GiB (gp3); it grows automatically up to db_max_allocated_storage_gb."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 65536
    error_message = "db_allocated_storage_gb must be from 20 to 65536."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "The ceiling of storage autoscaling, in GiB (0 turns it off)."
  type        = number
  default     = 200

  validation {
    condition     = var.db_max_allocated_storage_gb == 0 || var.db_max_allocated_storage_gb >= var.db_allocated_storage_gb
    error_message = "db_max_allocated_storage_gb must be 0 or at least db_allocated_storage_gb."
  }
}

variable "db_multi_az" {
  description = "A standby in another zone for each database (automatic failover)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) kept for each database."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be from 1 to 35 (0 would turn backups off)."
  }
}

variable "db_backup_window" {
  description = "Daily UTC window of the automated backups (hh:mm-hh:mm), outside the maintenance window."
  type        = string
  default     = "02:00-03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.db_backup_window))
    error_message = "db_backup_window must read hh:mm-hh:mm."
  }
}

variable "db_maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh:mm-ddd:hh:mm)."
  type        = string
  default     = "sun:03:30-sun:04:30"
}

variable "deletion_protection" {
  description = "Protect both databases from deletion (a destroy fails until this is false and applied). Also keeps a final snapshot when they are deleted."
  type        = bool
  default     = true
}

variable "db_password_version" {
  description = "Bump to generate new database passwords: both RDS instances and their Secrets Manager entries get the new one in the same apply (then restart the registry)."
  type        = number
  default     = 1

  validation {
    condition     = var.db_password_version >= 1 && floor(var.db_password_version) == var.db_password_version
    error_message = "db_password_version must be a whole number from 1."
  }
}

# --- secrets and Kubernetes ---------------------------------------------------------------

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager entry can be restored (0 deletes at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or from 7 to 30."
  }
}

variable "forge_namespace" {
  description = "The Kubernetes namespace Forge is installed in (the Kubernetes Secrets the External Secrets Operator writes live there)."
  type        = string
  default     = "forge"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.forge_namespace))
    error_message = "forge_namespace must be a Kubernetes namespace name."
  }
}

variable "external_secrets_service_account" {
  description = "The External Secrets Operator's service account (namespace and name), given an IAM role (IRSA) that reads this module's Secrets Manager entries."
  type        = object({ namespace = string, name = string })
  default     = { namespace = "external-secrets", name = "external-secrets" }
}

variable "kubernetes_secret_names" {
  description = "Names of the Kubernetes Secrets made from the Secrets Manager entries, as the chart's values name them (global.secrets.existingSecret, global.postgresql.<registry>.existingSecret)."
  type        = object({ forge = string, catalog_db = string, identity_db = string })
  default     = { forge = "forge-secrets", catalog_db = "forge-catalog-db", identity_db = "forge-identity-db" }
}

variable "public_url" {
  description = "The URL clients reach Forge's edge at (global.publicUrl of the chart), e.g. https://forge.example.com. Empty: left to the chart."
  type        = string
  default     = ""

  validation {
    condition     = var.public_url == "" || can(regex("^https?://[^/]+", var.public_url))
    error_message = "public_url must be an http(s) URL or empty."
  }
}

variable "generate_secrets" {
  description = "Generate Forge's secrets and the database passwords at apply time (256 random bits each, never stored by Terraform). false: take them from secret_values (e.g. to keep the JWT secret and sealing keys of an existing installation)."
  type        = bool
  default     = true
}

variable "secret_values" {
  description = "The secrets when generate_secrets is false: jwt_secret (32+ characters), session_secret, secret_keys (FORGE_SECRET_KEYS: <id>:<base64 of 32 bytes>, comma-separated), admin_password (12+ characters), catalog_db and identity_db (database passwords: letters and digits, 8+). Sensitive; they reach only write-only arguments, so not the state (a saved plan file does hold input variables)."
  type = object({
    jwt_secret     = string
    session_secret = string
    secret_keys    = string
    admin_password = string
    catalog_db     = string
    identity_db    = string
  })
  default   = null
  sensitive = true

  validation {
    condition     = var.generate_secrets || var.secret_values != null
    error_message = "secret_values is required when generate_secrets is false."
  }

  validation {
    condition = var.secret_values == null ? true : (
      length(var.secret_values.jwt_secret) >= 32 &&
      length(var.secret_values.admin_password) >= 12 &&
      can(regex("^[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=)*$", var.secret_values.secret_keys)) &&
      can(regex("^[A-Za-z0-9]{8,}$", var.secret_values.catalog_db)) &&
      can(regex("^[A-Za-z0-9]{8,}$", var.secret_values.identity_db))
    )
    error_message = "secret_values: jwt_secret needs 32+ characters, admin_password 12+, secret_keys must read <id>:<base64 of 32 bytes>[,...], the database passwords letters and digits (8+)."
  }
}
