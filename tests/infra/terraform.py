"""infra/ as data: every .tf file parsed with python-hcl2, and the locals the checks compare
with the code."""

import functools
import re
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def unquote(key):
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def plain(value):
    """python-hcl2's output without its quoting of keys and strings and its line markers."""
    if isinstance(value, dict):
        return {
            unquote(k): plain(v) for k, v in value.items() if not k.startswith("__") or not k.endswith("__")
        }
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value


@functools.cache
def parsed():
    """File name => that file's blocks."""
    return {path.name: plain(hcl2.loads(path.read_text())) for path in sorted(INFRA.glob("*.tf"))}


@functools.cache
def local_values():
    values = {}
    for blocks in parsed().values():
        for block in blocks.get("locals", []):
            for name, value in block.items():
                assert name not in values, f"local.{name} is defined twice"
                values[name] = value
    return values


def local(name):
    """A local value, with a value that is just another local (`local.x`) resolved."""
    value = local_values()[name]
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return local(match.group(1))
    return value


def resolve(value):
    """`${local.x}` values inside `value` replaced by the locals they name."""
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        if match:
            return resolve(local(match.group(1)))
    return value


def resources(kind):
    """Resource name => body, for every resource of `kind`."""
    found = {}
    for blocks in parsed().values():
        for block in blocks.get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[name] = body
    return found


def data_sources(kind):
    """Data source name => body, for every data source of `kind`."""
    found = {}
    for blocks in parsed().values():
        for block in blocks.get("data", []):
            for name, body in block.get(kind, {}).items():
                found[name] = body
    return found


def policy_statements(name):
    """The statements of data.aws_iam_policy_document.<name>, by sid (or by index without one)."""
    document = data_sources("aws_iam_policy_document")[name]
    return {s.get("sid", str(i)): s for i, s in enumerate(document["statement"])}


def depends_on(body):
    """The addresses a resource's depends_on names, without python-hcl2's ${…}."""
    return {re.fullmatch(r"\$\{(.+)\}", entry).group(1) for entry in body.get("depends_on", [])}


def variables():
    found = {}
    for blocks in parsed().values():
        for block in blocks.get("variable", []):
            found.update(block)
    return found


def vpc_functions():
    """lambda.tf's local.vpc_functions, evaluated: the functions whose environment names the
    brokers, since MSK is reachable only from inside the VPC."""
    assert local("vpc_functions") == (
        '${toset([for name, function in local.functions : name '
        'if contains(function.environment, "KAFKA_BOOTSTRAP_SERVERS")])}'
    )
    functions = resolve(local("functions"))
    return {name for name, function in functions.items() if "KAFKA_BOOTSTRAP_SERVERS" in function["environment"]}
