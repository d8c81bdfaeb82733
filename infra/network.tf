# The private network the Kafka clients and Kafka share. MSK Serverless is reachable only from
# inside a VPC, so every function that talks to the brokers runs in it (lambda.tf,
# vpc_functions), and so do the MSK event source mapping's pollers; the API functions, which do
# not, run outside it. Nothing here reaches the internet: there is no NAT gateway. What the
# functions and the pollers call besides Kafka is reached through VPC endpoints: DynamoDB
# (order-events) through a gateway endpoint (free), Lambda, STS and SQS (the pollers) through
# interface endpoints.
#
# With var.existing_kafka the functions join an existing cluster's VPC, and either this stack
# creates the same endpoints there (create_vpc_endpoints, the default), or the VPC reaches AWS
# through its own NAT gateway or endpoints and the two security groups may send HTTPS anywhere.

locals {
  create_network = var.existing_kafka == null

  vpc_id     = local.create_network ? aws_vpc.this[0].id : var.existing_kafka.vpc_id
  subnet_ids = local.create_network ? aws_subnet.private[*].id : var.existing_kafka.subnet_ids

  create_vpc_endpoints = local.create_network || try(var.existing_kafka.create_vpc_endpoints, false)
  route_table_ids = local.create_network ? [aws_route_table.private[0].id] : distinct([
    for table in data.aws_route_table.existing : table.id
  ])

  # Interface endpoints, all for the MSK event source mapping's pollers: Lambda and STS, to
  # invoke order-events and assume its role; SQS, for their on-failure destination. No function
  # in the VPC calls the Scheduler, Lambda, STS or SQS itself.
  interface_endpoints = toset(["lambda", "sts", "sqs"])
}

resource "aws_vpc" "this" {
  count = local.create_network ? 1 : 0
  #checkov:skip=CKV2_AWS_11:No internet gateway or NAT: the only traffic is between the functions, the brokers and the endpoints, which the security groups below restrict. Enable flow logs where an account policy asks for them.

  cidr_block = var.vpc_cidr
  # Interface endpoints answer under the services' public names only with private DNS.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${local.name}-vpc" }
}

resource "aws_subnet" "private" {
  count = local.create_network ? var.availability_zones : 0

  vpc_id            = aws_vpc.this[0].id
  availability_zone = data.aws_availability_zones.available.names[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)

  tags = { Name = "${local.name}-private-${data.aws_availability_zones.available.names[count.index]}" }
}

resource "aws_route_table" "private" {
  count = local.create_network ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "${local.name}-private" }
}

resource "aws_route_table_association" "private" {
  count = local.create_network ? var.availability_zones : 0

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}

data "aws_route_table" "existing" {
  for_each = local.create_vpc_endpoints && !local.create_network ? toset(var.existing_kafka.subnet_ids) : toset([])

  subnet_id = each.value
}

# What the existing network is, for the preconditions below: mistakes there would otherwise
# surface as timeouts long after the apply.
data "aws_subnet" "existing" {
  for_each = local.create_network ? toset([]) : toset(var.existing_kafka.subnet_ids)

  id = each.value
}

data "aws_vpc" "existing" {
  count = local.create_network ? 0 : 1

  id = var.existing_kafka.vpc_id
}

data "aws_security_group" "existing_kafka" {
  count = local.create_network ? 0 : 1

  id = var.existing_kafka.security_group_id
}

# The VPC's default security group is what a resource gets when it names none: it allows nothing.
resource "aws_default_security_group" "this" {
  count = local.create_network ? 1 : 0

  vpc_id = aws_vpc.this[0].id
}

# --- Security groups ---------------------------------------------------------------------------

resource "aws_security_group" "functions" {
  name        = "${local.name}-functions"
  description = "orderflow functions: out to Kafka and AWS APIs over HTTPS only"
  vpc_id      = local.vpc_id

  lifecycle {
    precondition {
      condition     = local.create_network || alltrue([for subnet in data.aws_subnet.existing : subnet.vpc_id == var.existing_kafka.vpc_id])
      error_message = "Every subnet in existing_kafka.subnet_ids must belong to existing_kafka.vpc_id."
    }
    precondition {
      condition     = local.create_network || length(distinct([for subnet in data.aws_subnet.existing : subnet.availability_zone])) >= 2
      error_message = "existing_kafka.subnet_ids must span at least two availability zones, so that the functions and the pollers outlive the loss of one."
    }
    precondition {
      condition     = local.create_network || try(data.aws_security_group.existing_kafka[0].vpc_id == var.existing_kafka.vpc_id, false)
      error_message = "existing_kafka.security_group_id must be a security group of existing_kafka.vpc_id (the cluster's)."
    }
  }
}

resource "aws_security_group" "kafka" {
  count = local.create_network ? 1 : 0
  #checkov:skip=CKV2_AWS_5:Attached to the MSK Serverless cluster (msk.tf, vpc_config), a resource this check does not follow.

  name        = "${local.name}-kafka"
  description = "MSK Serverless brokers and the order-events pollers, which use the cluster's security group"
  vpc_id      = local.vpc_id
}

resource "aws_security_group" "endpoints" {
  count = local.create_vpc_endpoints ? 1 : 0

  name = "${local.name}-endpoints"
  # Only the pollers connect to the endpoints. The description is the one the group was created
  # with: a new one would replace the group, which the endpoints hold.
  description = "Interface VPC endpoints: HTTPS from the functions and the event pollers"
  vpc_id      = local.vpc_id
}

locals {
  # The brokers' security group: ours, or the existing cluster's.
  kafka_security_group_id = local.create_network ? aws_security_group.kafka[0].id : var.existing_kafka.security_group_id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_kafka" {
  security_group_id            = aws_security_group.functions.id
  description                  = "Kafka with IAM authentication"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = local.kafka_security_group_id
}

# Without this stack's endpoints, DynamoDB may be behind an interface endpoint of the VPC's own,
# whose addresses this stack cannot know.
resource "aws_vpc_security_group_egress_rule" "functions_to_aws_apis" {
  count = local.create_vpc_endpoints ? 0 : 1

  security_group_id = aws_security_group.functions.id
  description       = "HTTPS to DynamoDB through the VPC's NAT gateway or own endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "functions_to_dynamodb" {
  security_group_id = aws_security_group.functions.id
  description       = "HTTPS to DynamoDB through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.dynamodb.id
}

resource "aws_vpc_security_group_ingress_rule" "kafka_from_functions" {
  security_group_id            = local.kafka_security_group_id
  description                  = "Kafka with IAM authentication from the orderflow functions"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.functions.id
}

# The event source mapping's pollers run in the cluster's subnets with the cluster's security
# group (ours, or the existing cluster's): it must let them reach the brokers, and reach Lambda,
# STS and SQS through the endpoints or, without them, the VPC's own way out.
resource "aws_vpc_security_group_ingress_rule" "kafka_from_pollers" {
  security_group_id            = local.kafka_security_group_id
  description                  = "Kafka with IAM authentication from the event source mapping's pollers"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = local.kafka_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "pollers_to_kafka" {
  security_group_id            = local.kafka_security_group_id
  description                  = "The event source mapping's pollers to the brokers"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = local.kafka_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "pollers_to_endpoints" {
  count = local.create_vpc_endpoints ? 1 : 0

  security_group_id            = local.kafka_security_group_id
  description                  = "The event source mapping's pollers to Lambda, STS and SQS"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_egress_rule" "pollers_to_aws_apis" {
  count = local.create_vpc_endpoints ? 0 : 1

  security_group_id = local.kafka_security_group_id
  description       = "The event source mapping's pollers to Lambda, STS and SQS through the VPC's NAT gateway or own endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# They had a count when only this stack's cluster got them.
moved {
  from = aws_vpc_security_group_ingress_rule.kafka_from_pollers[0]
  to   = aws_vpc_security_group_ingress_rule.kafka_from_pollers
}

moved {
  from = aws_vpc_security_group_egress_rule.pollers_to_kafka[0]
  to   = aws_vpc_security_group_egress_rule.pollers_to_kafka
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_pollers" {
  count = local.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the event source mapping's pollers"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = local.kafka_security_group_id
}

# --- VPC endpoints -----------------------------------------------------------------------------

data "aws_region" "current" {}

data "aws_ec2_managed_prefix_list" "dynamodb" {
  name = "com.amazonaws.${data.aws_region.current.region}.dynamodb"
}

resource "aws_vpc_endpoint" "dynamodb" {
  count = local.create_vpc_endpoints ? 1 : 0

  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${data.aws_region.current.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.route_table_ids

  tags = { Name = "${local.name}-dynamodb" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.create_vpc_endpoints ? local.interface_endpoints : toset([])

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${data.aws_region.current.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = { Name = "${local.name}-${each.key}" }

  lifecycle {
    precondition {
      condition     = local.create_network || try(data.aws_vpc.existing[0].enable_dns_support && data.aws_vpc.existing[0].enable_dns_hostnames, false)
      error_message = "existing_kafka.create_vpc_endpoints needs DNS support and DNS hostnames on in existing_kafka.vpc_id (interface endpoints answer under the services' names only then); turn them on, or set create_vpc_endpoints = false when the VPC reaches AWS through a NAT gateway or endpoints of its own."
    }
  }
}
