# The private network the functions and Kafka share. MSK Serverless is reachable only from inside
# a VPC, so every function that publishes to Kafka runs in it, and so do the event source
# mapping's pollers. Nothing here reaches the internet: there is no NAT gateway. What the
# functions and the pollers call besides Kafka is reached through VPC endpoints: DynamoDB through
# a gateway endpoint (free), the Scheduler, Lambda, STS and SQS through interface endpoints.

locals {
  create_network = var.existing_kafka == null

  vpc_id     = local.create_network ? aws_vpc.this[0].id : var.existing_kafka.vpc_id
  subnet_ids = local.create_network ? aws_subnet.private[*].id : var.existing_kafka.subnet_ids

  create_vpc_endpoints = local.create_network || try(var.existing_kafka.create_vpc_endpoints, false)
  route_table_ids = local.create_network ? [aws_route_table.private[0].id] : distinct([
    for table in data.aws_route_table.existing : table.id
  ])

  # Interface endpoints, and who needs each: the Scheduler for create-order's payment timeouts;
  # Lambda and STS for the event source mapping's pollers, which invoke order-events and assume
  # its role; SQS for the pollers' on-failure destination.
  interface_endpoints = toset(["scheduler", "lambda", "sts", "sqs"])
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
  for_each = local.create_network ? toset([]) : toset(var.existing_kafka.subnet_ids)

  subnet_id = each.value
}

# The VPC's default security group is what a resource gets when it names none: it allows nothing.
resource "aws_default_security_group" "this" {
  count = local.create_network ? 1 : 0

  vpc_id = aws_vpc.this[0].id
}

# --- Security groups ---------------------------------------------------------------------------

resource "aws_security_group" "functions" {
  name        = "${local.name}-functions"
  description = "orderflow functions: out to Kafka and the VPC endpoints only"
  vpc_id      = local.vpc_id
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

  name        = "${local.name}-endpoints"
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

resource "aws_vpc_security_group_egress_rule" "functions_to_endpoints" {
  count = local.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.functions.id
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
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
# group: it must let them reach the brokers, and reach Lambda, STS and SQS through the endpoints.
resource "aws_vpc_security_group_ingress_rule" "kafka_from_pollers" {
  count = local.create_network ? 1 : 0

  security_group_id            = aws_security_group.kafka[0].id
  description                  = "Kafka with IAM authentication from the event source mapping's pollers"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.kafka[0].id
}

resource "aws_vpc_security_group_egress_rule" "pollers_to_kafka" {
  count = local.create_network ? 1 : 0

  security_group_id            = aws_security_group.kafka[0].id
  description                  = "The event source mapping's pollers to the brokers"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.kafka[0].id
}

resource "aws_vpc_security_group_egress_rule" "pollers_to_endpoints" {
  count = local.create_network ? 1 : 0

  security_group_id            = aws_security_group.kafka[0].id
  description                  = "The event source mapping's pollers to Lambda, STS and SQS"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_functions" {
  count = local.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the orderflow functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.functions.id
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
}
