variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
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
