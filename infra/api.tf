# The HTTP API: every route needs a JWT, validated by API Gateway before a function runs; the
# functions read the caller (sub) and their groups from the claims the authorizer passes on.
# The JWTs come from var.jwt_issuer, or from a Cognito user pool created here.

locals {
  # Route key => the function that serves it. tests/infra checks these against the operations
  # each API function serves (shared/http/src/routes.rs and its OpenAPI document).
  api_routes = {
    "POST /orders"             = "create-order"
    "GET /orders"              = "orders-api"
    "GET /orders/{id}"         = "orders-api"
    "POST /orders/{id}/pay"    = "orders-api"
    "POST /orders/{id}/cancel" = "orders-api"
    "GET /notifications"       = "orders-api"
    "GET /products"            = "orders-api"
    "GET /products/{id}"       = "orders-api"
    "PUT /products/{id}"       = "orders-api"
  }

  api_functions = toset([for name, function in local.functions : name if function.trigger == "api"])

  create_user_pool = var.jwt_issuer == null
  jwt_issuer       = local.create_user_pool ? "https://${aws_cognito_user_pool.this[0].endpoint}" : var.jwt_issuer
  jwt_audience     = local.create_user_pool ? [aws_cognito_user_pool_client.this[0].id] : var.jwt_audience
}

resource "aws_apigatewayv2_api" "this" {
  name          = local.name
  protocol_type = "HTTP"
  description   = "orderflow: orders, payments and products"
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.this.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = local.jwt_issuer
    audience = local.jwt_audience
  }

  lifecycle {
    precondition {
      condition     = local.create_user_pool || length(var.jwt_audience) > 0
      error_message = "jwt_audience must name at least one audience when jwt_issuer is set."
    }
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each = local.api_functions

  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
  payload_format_version = "2.0"
  # API Gateway's own limit; the functions time out before it.
  timeout_milliseconds = 29000
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.api_routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.function[each.value].id}"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.api_throttle.rate_limit
    throttling_burst_limit = var.api_throttle.burst_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      sourceIp           = "$context.identity.sourceIp"
      # The caller's id, never the token.
      sub = "$context.authorizer.claims.sub"
    })
  }
}

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_158:Encrypted with the CloudWatch Logs service key; access logs hold request ids, routes and user ids, never bodies or tokens.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment.
  name              = "/aws/apigateway/${local.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_permission" "api" {
  for_each = local.api_functions

  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  # Only this API may invoke it, on any of its stages and routes.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

# --- Cognito, unless var.jwt_issuer names another issuer -----------------------------------------

resource "aws_cognito_user_pool" "this" {
  count = local.create_user_pool ? 1 : 0

  name                     = local.name
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  deletion_protection      = var.cognito_deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "OPTIONAL"

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length    = 12
    require_lowercase = true
    require_uppercase = true
    require_numbers   = true
    require_symbols   = false
  }

  # Users are created by an administrator (README: Deploy to AWS), not by signing up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }
}

resource "aws_cognito_user_pool_client" "this" {
  count = local.create_user_pool ? 1 : 0

  name         = "${local.name}-api"
  user_pool_id = aws_cognito_user_pool.this[0].id
  # A public client (no secret): apps sign in with SRP, which never sends the password. The
  # README signs in from the command line with ADMIN_USER_PASSWORD_AUTH, which needs IAM
  # credentials as well; USER_PASSWORD_AUTH, a password alone over the public endpoint, is off.
  generate_secret = false
  explicit_auth_flows = concat(
    ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    var.cognito_admin_password_sign_in ? ["ALLOW_ADMIN_USER_PASSWORD_AUTH"] : [],
  )
  prevent_user_existence_errors = "ENABLED"
  access_token_validity         = 60
  id_token_validity             = 60
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

# Members may create products and set their stock (ADMIN_GROUP).
resource "aws_cognito_user_group" "admin" {
  count = local.create_user_pool ? 1 : 0

  name         = var.admin_group
  user_pool_id = aws_cognito_user_pool.this[0].id
  description  = "May create products and set their stock"
}
