variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "Name prefix of every resource."
  type        = string
  default     = "orderflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment stage, part of every resource name (dev, staging, prod, ...)."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "dynamodb_deletion_protection" {
  description = "Protect the DynamoDB tables from deletion (turn off only for throwaway stacks)."
  type        = bool
  default     = true
}

# arm64 (Graviton): about 20% cheaper per GB-second than x86_64 for the same work. The zips are
# cross-compiled with cargo-lambda and Zig; librdkafka's own build is pointed at the same Zig
# (scripts/infra.sh), and OpenSSL is built from source for the target (rdkafka's ssl-vendored).
variable "lambda_architecture" {
  description = "Instruction set of every function. Must match the zips: `make package` builds for the same LAMBDA_ARCH that `make plan` and `make deploy` pass here."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "log_retention_days" {
  description = "How long CloudWatch keeps the functions' and the API's logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

# --- Network and Kafka -----------------------------------------------------------------------

variable "vpc_cidr" {
  description = "Address range of the VPC created for MSK Serverless and the functions (unused with existing_kafka)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrsubnet(var.vpc_cidr, 4, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR block of /20 or larger."
  }
}

variable "availability_zones" {
  description = "How many availability zones the private subnets span. MSK Serverless needs at least two; each zone adds a subnet and an interface endpoint per service."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zones >= 2 && var.availability_zones <= 3
    error_message = "availability_zones must be 2 or 3."
  }
}

variable "existing_kafka" {
  description = <<-EOT
    Use an existing MSK cluster with IAM authentication instead of creating an MSK Serverless
    cluster and its VPC. cluster_arn and bootstrap_brokers (the SASL/IAM list, port 9098) name the
    cluster, in var.region; vpc_id and subnet_ids (private subnets of that VPC, in two zones or
    more, that reach the brokers) place the functions; security_group_id is the cluster's security
    group, which the event source mapping's pollers use too: it gets rules for the functions and
    the pollers. create_vpc_endpoints = true (the default) creates the DynamoDB gateway endpoint
    and the Lambda, STS and SQS interface endpoints in the VPC, which must then have DNS support
    and DNS hostnames on and no endpoint of its own for these services (AWS refuses a second
    private DNS name for a service in one VPC). false: the subnets reach these services through a
    NAT gateway or the VPC's own endpoints, and the functions and pollers may send HTTPS anywhere;
    the VPC's own interface endpoints must admit both security groups on port 443.
  EOT
  type = object({
    cluster_arn          = string
    bootstrap_brokers    = string
    vpc_id               = string
    subnet_ids           = list(string)
    security_group_id    = string
    create_vpc_endpoints = optional(bool, true)
  })
  default = null

  validation {
    condition     = var.existing_kafka == null || can(regex("^arn:aws[a-z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/", var.existing_kafka.cluster_arn))
    error_message = "existing_kafka.cluster_arn must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/...)."
  }

  validation {
    condition     = var.existing_kafka == null || alltrue([for broker in split(",", try(var.existing_kafka.bootstrap_brokers, "")) : can(regex("^[A-Za-z0-9.-]+:9098$", trimspace(broker)))])
    error_message = "existing_kafka.bootstrap_brokers must be the cluster's IAM bootstrap brokers, host:9098[,host:9098...]."
  }

  validation {
    condition     = var.existing_kafka == null || length(try(var.existing_kafka.subnet_ids, [])) >= 2
    error_message = "existing_kafka.subnet_ids must name at least two subnets, in different availability zones."
  }

  # An event source mapping reads a cluster of its own region only.
  validation {
    condition     = var.existing_kafka == null || try(split(":", var.existing_kafka.cluster_arn)[3] == var.region, false)
    error_message = "existing_kafka.cluster_arn must name a cluster in var.region: the functions and the event source mapping run there."
  }
}

variable "order_events_topic" {
  description = "The order event topic (ORDER_EVENTS_TOPIC)."
  type        = string
  default     = "order-events"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,249}$", var.order_events_topic))
    error_message = "order_events_topic must be a valid Kafka topic name."
  }
}

variable "order_events_dlq_topic" {
  description = "The dead-letter topic of poison order events (ORDER_EVENTS_DLQ_TOPIC)."
  type        = string
  default     = "order-events-dlq"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,249}$", var.order_events_dlq_topic))
    error_message = "order_events_dlq_topic must be a valid Kafka topic name."
  }
}

variable "kafka_topic_partitions" {
  description = "Partitions of both topics: the most order-events batches processed at once. Raising it later adds partitions (moving where new keys land); lowering it has no effect."
  type        = number
  default     = 6

  validation {
    condition     = var.kafka_topic_partitions >= 1 && var.kafka_topic_partitions <= 120
    error_message = "kafka_topic_partitions must be between 1 and 120 (MSK Serverless allows 120 per topic)."
  }
}

# Kept longer than the 14 days the order-events failures queue keeps the offsets of records the
# event source mapping gave up on (lambda.tf): a pointer must never outlive its record, which is
# read again from this topic to replay it (README: Redrive).
variable "order_events_retention_days" {
  description = "How long order-events keeps its records (retention.ms): the window in which a failed or dead-lettered record can be replayed. More than the failures queue's 14 days."
  type        = number
  default     = 21

  validation {
    condition     = var.order_events_retention_days >= 15 && var.order_events_retention_days <= 365
    error_message = "order_events_retention_days must be between 15 (longer than the failures queue keeps its pointers, 14 days) and 365."
  }
}

# The dead-letter topic holds the only record of why each poison event was refused, next to its
# bytes: long enough to be looked at after an alarm, and at least as long as the failures queue.
variable "order_events_dlq_retention_days" {
  description = "How long order-events-dlq keeps dead-lettered records (retention.ms), with their reason and source offset."
  type        = number
  default     = 28

  validation {
    condition     = var.order_events_dlq_retention_days >= 14 && var.order_events_dlq_retention_days <= 365
    error_message = "order_events_dlq_retention_days must be between 14 (as long as the failures queue keeps its pointers) and 365."
  }
}

variable "kafka_replication_factor" {
  description = "Replication factor of the topics. MSK Serverless always uses 3; set it for an existing cluster with fewer brokers."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_replication_factor >= 1 && var.kafka_replication_factor <= 3
    error_message = "kafka_replication_factor must be 1, 2 or 3."
  }
}

# --- The order-events consumer ------------------------------------------------------------------

variable "order_events_batch_size" {
  description = "Most records in one order-events invocation."
  type        = number
  default     = 100

  validation {
    condition     = var.order_events_batch_size >= 1 && var.order_events_batch_size <= 10000
    error_message = "order_events_batch_size must be between 1 and 10000."
  }
}

variable "order_events_batching_window_seconds" {
  description = "How long the event source mapping gathers records before invoking order-events with fewer than a full batch."
  type        = number
  default     = 1

  validation {
    condition     = var.order_events_batching_window_seconds >= 0 && var.order_events_batching_window_seconds <= 300
    error_message = "order_events_batching_window_seconds must be between 0 and 300."
  }
}

variable "order_events_max_retry_attempts" {
  description = "Retries of a failed order-events batch before its records' metadata goes to the on-failure queue. High by default: a failure that a retry cannot fix (a denied permission) should hold the partition until it is fixed, not discard events."
  type        = number
  default     = 10000

  validation {
    condition     = var.order_events_max_retry_attempts >= 0 && var.order_events_max_retry_attempts <= 10000
    error_message = "order_events_max_retry_attempts must be between 0 and 10000."
  }
}

variable "order_events_pollers" {
  description = "Provisioned event pollers of the order-events mapping (each reads up to 5 MB/s). Provisioned mode is what enables retry limits and partial batch responses on Kafka mappings."
  type = object({
    minimum = number
    maximum = number
  })
  default = { minimum = 1, maximum = 3 }

  validation {
    condition     = var.order_events_pollers.minimum >= 1 && var.order_events_pollers.maximum >= var.order_events_pollers.minimum && var.order_events_pollers.maximum <= 2000
    error_message = "order_events_pollers needs 1 <= minimum <= maximum <= 2000."
  }
}

# --- The order-stream publisher (the orders table's stream) -------------------------------------

variable "order_stream_batch_size" {
  description = "Most stream records in one order-stream invocation."
  type        = number
  default     = 100

  validation {
    condition     = var.order_stream_batch_size >= 1 && var.order_stream_batch_size <= 10000
    error_message = "order_stream_batch_size must be between 1 and 10000."
  }
}

variable "order_stream_batching_window_seconds" {
  description = "How long the event source mapping gathers stream records before invoking order-stream with fewer than a full batch. 0: as soon as a poll finds records, for the shortest delay between a change and its event."
  type        = number
  default     = 0

  validation {
    condition     = var.order_stream_batching_window_seconds >= 0 && var.order_stream_batching_window_seconds <= 300
    error_message = "order_stream_batching_window_seconds must be between 0 and 300."
  }
}

variable "order_stream_parallelization_factor" {
  description = "Batches of one stream shard order-stream processes at once (1-10). The changes of one order stay in order at any value. Each concurrent batch is an execution environment with its own Kafka producer, and connections to the brokers."
  type        = number
  default     = 1

  validation {
    condition     = var.order_stream_parallelization_factor >= 1 && var.order_stream_parallelization_factor <= 10
    error_message = "order_stream_parallelization_factor must be between 1 and 10."
  }
}

variable "order_stream_max_retry_attempts" {
  description = "Retries of a stream record order-stream could not publish before the mapping gives up on it and sends its position to the order-stream failures queue. High by default: a broker outage should delay events, not drop them; order_stream_max_record_age_seconds is what bounds the wait."
  type        = number
  default     = 10000

  validation {
    condition     = var.order_stream_max_retry_attempts >= 0 && var.order_stream_max_retry_attempts <= 10000
    error_message = "order_stream_max_retry_attempts must be between 0 and 10000 (infinite retries, -1, are not allowed: the stream drops records after 24 hours)."
  }
}

# DynamoDB Streams keeps a record 24 hours. A record given up on at this age stays readable for
# the rest of them, from the position the failures queue receives; one still being retried at
# 24 hours is gone.
variable "order_stream_max_record_age_seconds" {
  description = "Age at which the mapping gives up on a stream record order-stream could not publish, and sends its position to the order-stream failures queue. 6 hours by default: long enough to ride out a broker outage unattended, leaving 18 of the stream's 24 hours to replay what was given up."
  type        = number
  default     = 21600

  validation {
    condition     = var.order_stream_max_record_age_seconds >= 60 && var.order_stream_max_record_age_seconds <= 86400
    error_message = "order_stream_max_record_age_seconds must be between 60 and 86400 (the stream keeps records 24 hours)."
  }
}

# --- API --------------------------------------------------------------------------------------

variable "jwt_issuer" {
  description = "Issuer (iss) of the JWTs the API accepts, e.g. https://example.eu.auth0.com/. Leave null to create a Cognito user pool and accept its tokens."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || can(regex("^https://", var.jwt_issuer))
    error_message = "jwt_issuer must be an https:// URL."
  }
}

variable "jwt_audience" {
  description = "Audiences (aud, or client_id for Cognito access tokens) the API accepts. Required with jwt_issuer; ignored with the Cognito user pool, whose app client is the audience."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for audience in var.jwt_audience : length(trimspace(audience)) > 0])
    error_message = "jwt_audience must not contain empty strings."
  }
}

variable "api_throttle" {
  description = "Requests per second, and burst, the API stage accepts before answering 429."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = { rate_limit = 50, burst_limit = 100 }

  validation {
    condition     = var.api_throttle.rate_limit > 0 && var.api_throttle.burst_limit > 0
    error_message = "api_throttle limits must be positive."
  }
}

# Reserved concurrency is kept for the API functions and is also their cap: a burst of requests
# (each slow while DynamoDB is slow) cannot take the account's unreserved concurrency from the
# functions that apply and publish the order events.
variable "api_reserved_concurrency" {
  description = "Reserved concurrency of each API function (create-order, orders-api): the most requests each serves at once, and concurrency kept for it. Reserving needs an account concurrency quota above 100 plus the reservations (new accounts start at 10: ask for an increase); null leaves them uncapped."
  type        = number
  default     = 20
  nullable    = true

  validation {
    condition     = var.api_reserved_concurrency == null || try(var.api_reserved_concurrency >= 1 && var.api_reserved_concurrency <= 1000, false)
    error_message = "api_reserved_concurrency must be null or between 1 and 1000."
  }
}

variable "cognito_admin_password_sign_in" {
  description = "Let callers with IAM permission cognito-idp:AdminInitiateAuth sign users of the Cognito user pool in with a password (ADMIN_USER_PASSWORD_AUTH), as the README's steps do from the command line. Apps sign in with SRP either way; plain USER_PASSWORD_AUTH is never enabled."
  type        = bool
  default     = true
}

variable "cognito_deletion_protection" {
  description = "Protect the Cognito user pool, and its users, from deletion (turn off only for throwaway stacks)."
  type        = bool
  default     = true
}

# --- Alarms -----------------------------------------------------------------------------------

variable "alarm_email" {
  description = "Email address subscribed to an SNS topic that every alarm notifies. Null: no topic; the alarms only change state."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address."
  }
}

variable "order_stream_iterator_age_threshold_seconds" {
  description = "Age of the newest record in an order-stream batch (IteratorAge) above which an alarm is raised: events are that late. Must be below order_stream_max_record_age_seconds, so that the alarm comes before records are given up on."
  type        = number
  default     = 300

  validation {
    condition     = var.order_stream_iterator_age_threshold_seconds >= 60
    error_message = "order_stream_iterator_age_threshold_seconds must be at least 60."
  }
}

variable "order_events_lag_threshold" {
  description = "Records of order-events its consumer group has not processed (OffsetLag: one figure for the whole topic, not per partition) that, seen without a break for 15 minutes, raise an alarm. 1 catches one record stuck on a partition at any volume; raise it only when steady traffic keeps the lag above zero."
  type        = number
  default     = 1

  validation {
    condition     = var.order_events_lag_threshold >= 1
    error_message = "order_events_lag_threshold must be at least 1."
  }
}

# --- Orders and payment timeouts ----------------------------------------------------------------

variable "payment_timeout_seconds" {
  description = "How long a new order holds its stock before it is cancelled unpaid (PAYMENT_TIMEOUT_SECONDS)."
  type        = number
  default     = 1800

  validation {
    condition     = var.payment_timeout_seconds >= 60 && var.payment_timeout_seconds <= 604800
    error_message = "payment_timeout_seconds must be between 60 (one minute) and 604800 (seven days)."
  }
}

variable "idempotency_key_ttl_seconds" {
  description = "How long an Idempotency-Key is remembered (IDEMPOTENCY_KEY_TTL_SECONDS)."
  type        = number
  default     = 86400

  validation {
    condition     = var.idempotency_key_ttl_seconds >= 60 && var.idempotency_key_ttl_seconds <= 2592000
    error_message = "idempotency_key_ttl_seconds must be between 60 and 2592000 (30 days)."
  }
}

variable "scheduler_max_retry_attempts" {
  description = "Retries of a payment timeout the Scheduler could not deliver to order-timeout before it goes to the dead-letter queue."
  type        = number
  default     = 185

  validation {
    condition     = var.scheduler_max_retry_attempts >= 0 && var.scheduler_max_retry_attempts <= 185
    error_message = "scheduler_max_retry_attempts must be between 0 and 185."
  }
}

variable "scheduler_max_event_age_seconds" {
  description = "How long the Scheduler keeps retrying one payment timeout."
  type        = number
  default     = 86400

  validation {
    condition     = var.scheduler_max_event_age_seconds >= 60 && var.scheduler_max_event_age_seconds <= 86400
    error_message = "scheduler_max_event_age_seconds must be between 60 and 86400."
  }
}

variable "groups_claim" {
  description = "The JWT claim that lists the caller's groups (GROUPS_CLAIM); cognito:groups for the Cognito user pool."
  type        = string
  default     = "cognito:groups"

  validation {
    condition     = length(trimspace(var.groups_claim)) > 0
    error_message = "groups_claim must not be empty."
  }
}

variable "admin_group" {
  description = "Members of this group may create products and set their stock (ADMIN_GROUP). With the Cognito user pool, the group is created too."
  type        = string
  default     = "admin"

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=,.@-]{1,128}$", var.admin_group))
    error_message = "admin_group must be 1-128 letters, digits or _+=,.@-."
  }
}
