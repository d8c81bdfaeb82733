"""Every way of placing the stack (its own VPC, or an existing cluster's with or without the
endpoints this stack creates) gives the functions and the event source mapping's pollers a path
to everything they call, or is refused before anything is created.

Terraform's providers are not installed here, so nothing is planned: the rules are read from
infra/network.tf, each kept or dropped by its count as Terraform would for each combination."""

import re

import pytest

import terraform

# Which security group each expression names. The pollers use the cluster's security group
# (ours, or the existing cluster's): AWS Lambda Developer Guide, "Configuring network for
# Amazon MSK event sources" (https://docs.aws.amazon.com/lambda/latest/dg/with-msk-cluster-network.html).
GROUPS = {
    "${aws_security_group.functions.id}": "functions",
    "${local.kafka_security_group_id}": "kafka",
    "${aws_security_group.kafka[0].id}": "kafka",
    "${aws_security_group.endpoints[0].id}": "endpoints",
}

COMBINATIONS = {
    "own VPC": {"create_network": True, "create_vpc_endpoints": True},
    "existing cluster, endpoints created": {"create_network": False, "create_vpc_endpoints": True},
    "existing cluster, NAT or own endpoints": {"create_network": False, "create_vpc_endpoints": False},
}


def kept(body, flags):
    """Whether a resource with this count (or for_each) exists under `flags`."""
    condition = body.get("count", body.get("for_each"))
    if condition is None:
        return True
    m = re.fullmatch(r"\$\{local\.(\w+) \? (.+?) : (.+?)\}", str(condition))
    assert m, f"cannot read the condition {condition!r}"
    chosen = m.group(2) if flags[m.group(1)] else m.group(3)
    return chosen not in ("0", "toset([])")


def rules(flags):
    """(direction, group, port, peer) of every rule that exists under `flags`."""
    found = set()
    for direction in ("ingress", "egress"):
        for name, body in terraform.resources(f"aws_vpc_security_group_{direction}_rule").items():
            if not kept(body, flags):
                continue
            peer = (GROUPS.get(body.get("referenced_security_group_id"))
                    or body.get("cidr_ipv4") or ("prefix-list" if body.get("prefix_list_id") else None))
            assert peer, f"{name}: unknown peer"
            assert body["from_port"] == body["to_port"], name
            found.add((direction, GROUPS[body["security_group_id"]], body["from_port"], peer))
    return found


def reaches(found, source, target, port):
    """`source` may open connections to `target` on `port`: egress from one, ingress to the other."""
    return ("egress", source, port, target) in found and ("ingress", target, port, source) in found


def test_the_combinations_are_the_locals_network_tf_derives():
    assert terraform.local("create_network") == "${var.existing_kafka == null}"
    assert terraform.local("create_vpc_endpoints") == \
        "${local.create_network || try(var.existing_kafka.create_vpc_endpoints, false)}"
    existing = terraform.variables()["existing_kafka"]["type"]
    assert "optional(bool, true)" in existing.replace(" ", "").replace(",", ", ")


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_functions_and_pollers_reach_what_they_call(combination):
    flags = COMBINATIONS[combination]
    found = rules(flags)
    # The functions in the VPC produce to the brokers; the pollers consume from them (MSK: port
    # 9098 is SASL/IAM over TLS, "Port information", Amazon MSK Developer Guide).
    assert reaches(found, "functions", "kafka", 9098)
    assert reaches(found, "kafka", "kafka", 9098)
    endpoints = terraform.resources("aws_vpc_endpoint")
    if flags["create_vpc_endpoints"]:
        # AWS Lambda Developer Guide, "Configuring network for Amazon MSK event sources": without
        # a NAT, the pollers need interface endpoints for Lambda and STS (and SQS for the
        # on-failure destination); order-events reaches DynamoDB through its gateway endpoint,
        # whose addresses are the service's prefix list. The functions in the VPC call no other
        # AWS API: the Scheduler's callers, the API functions, run outside it (test_functions.py).
        assert kept(endpoints["interface"], flags) and kept(endpoints["dynamodb"], flags)
        assert terraform.local("interface_endpoints") == '${toset(["lambda", "sts", "sqs"])}'
        assert reaches(found, "kafka", "endpoints", 443)
        assert not any(group == "functions" and peer == "endpoints" for _, group, _, peer in found)
        assert not any(group == "endpoints" and peer == "functions" for _, group, _, peer in found)
        assert ("egress", "functions", 443, "prefix-list") in found
        assert not any(peer == "0.0.0.0/0" for *_, peer in found), "no way out but the endpoints"
    else:
        # Through the VPC's own NAT gateway or endpoints, whose addresses this stack cannot know.
        assert not kept(endpoints["interface"], flags) and not kept(endpoints["dynamodb"], flags)
        assert ("egress", "functions", 443, "0.0.0.0/0") in found
        assert ("egress", "kafka", 443, "0.0.0.0/0") in found


def preconditions(kind, name):
    return [p for block in terraform.resources(kind)[name].get("lifecycle", []) for p in block.get("precondition", [])]


def test_an_existing_network_that_cannot_work_is_refused_at_plan_time():
    checks = {p["error_message"]: p["condition"] for p in preconditions("aws_security_group", "functions")}
    assert any("belong to existing_kafka.vpc_id" in message for message in checks)
    assert any("two availability zones" in message for message in checks)
    assert any("security group of existing_kafka.vpc_id" in message for message in checks)
    assert all(condition.startswith("${local.create_network ||") for condition in checks.values())
    # AWS PrivateLink Guide, "Access an AWS service using an interface VPC endpoint" / "DNS
    # hostnames": private DNS for an endpoint needs enableDnsSupport and enableDnsHostnames.
    [dns] = preconditions("aws_vpc_endpoint", "interface")
    assert "enable_dns_support && " in dns["condition"] and "enable_dns_hostnames" in dns["condition"]
    assert "create_vpc_endpoints = false" in dns["error_message"]
    # AWS Lambda Developer Guide, "Using Lambda with Amazon MSK": the cluster and the event source
    # mapping are in one Region.
    region = [v for v in terraform.variables()["existing_kafka"]["validation"] if "var.region" in v["condition"]]
    assert region and "in var.region" in region[0]["error_message"]
