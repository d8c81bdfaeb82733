terraform {
  # 1.11 is the release `make plan` and `make deploy` are checked with (`terraform fmt` in
  # `make test`); any later 1.x reads these files the same way.
  required_version = "~> 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The floor is for the newest settings used here: on the MSK event source mapping, the
      # ErrorCount and KafkaMetrics values of metrics_config and the retry settings that Kafka
      # mappings accept in provisioned mode. Releases of 6.x before them refuse these at plan
      # time; `make plan` with a fresh `terraform init` checks the floor against the registry.
      version = ">= 6.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The subnets take the first var.availability_zones names of this list; a zone AWS adds gets the next letter and sorts after them, so they never move.
  state = "available"
}

locals {
  # Every resource name starts with this, so that stacks of several environments share an account.
  name = "${var.project}-${var.environment}"
}
