"""The API's functions are capped, and the Cognito user pool is hardened by default."""

import terraform


def test_api_functions_have_reserved_concurrency_and_the_others_none():
    # AWS Lambda Developer Guide, "Configuring reserved concurrency for a function": reserved
    # concurrency is set aside for the function and is also the most environments it runs at
    # once, so a burst of requests cannot take the unreserved concurrency the event functions
    # use; -1 removes it.
    function = terraform.resources("aws_lambda_function")["this"]
    assert function["reserved_concurrent_executions"] == (
        '${each.value.trigger == "api" && var.api_reserved_concurrency != null ? var.api_reserved_concurrency : -1}'
    )
    variable = terraform.variables()["api_reserved_concurrency"]
    assert 1 <= variable["default"] <= 100


def test_cognito_never_accepts_a_bare_password_and_is_protected_from_deletion():
    # Amazon Cognito Developer Guide, "Authentication flows": USER_PASSWORD_AUTH sends the password
    # to the public endpoint with nothing else; SRP never sends it, and ADMIN_USER_PASSWORD_AUTH
    # needs IAM credentials with cognito-idp:AdminInitiateAuth.
    client = terraform.resources("aws_cognito_user_pool_client")["this"]
    flows = client["explicit_auth_flows"]
    assert "ALLOW_USER_PASSWORD_AUTH" not in flows
    assert '["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]' in flows
    assert 'var.cognito_admin_password_sign_in ? ["ALLOW_ADMIN_USER_PASSWORD_AUTH"] : []' in flows
    # Amazon Cognito Developer Guide, "Using user pool deletion protection": ACTIVE refuses
    # DeleteUserPool until it is turned off.
    pool = terraform.resources("aws_cognito_user_pool")["this"]
    assert pool["deletion_protection"] == '${var.cognito_deletion_protection ? "ACTIVE" : "INACTIVE"}'
    assert terraform.variables()["cognito_deletion_protection"]["default"] is True
