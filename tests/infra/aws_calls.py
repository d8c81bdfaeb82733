"""What each function's code calls in AWS, as IAM sees it.

Two facts combine. The adapters (shared/adapters/src) are read to learn, for each adapter
method, which AWS operations it makes on which table, index or schedule group. Each function's
binary is read (`nm`) to learn which adapter methods it links: the compiler only emits the
methods that code reachable from `main` calls, so a function that never pays an order does not
link `mark_paid`, and needs none of its permissions.
"""

import functools
import re
import subprocess
from dataclasses import dataclass

import rust

ADAPTERS = "shared/adapters/src"

# Calls on a DynamoDB client, and the items of a transaction: the IAM action each needs.
# A transaction (transact_write_items) needs the action of each of its items, not one of its own.
DYNAMODB_CALLS = {
    "get_item": "GetItem", "put_item": "PutItem", "update_item": "UpdateItem",
    "delete_item": "DeleteItem", "query": "Query", "scan": "Scan",
}
DYNAMODB_ITEMS = {
    "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem",
}
DYNAMODB_UNREAD = ("batch_write_item", "execute_statement", "batch_execute_statement")
# A batch names its tables as keys of its request, not through `.table_name(…)`: every table
# field of the adapter the function mentions (`self.<field>`) is taken to be read.
DYNAMODB_BATCH_READS = {"batch_get_item": "BatchGetItem"}
# Reading a table's stream is the event source mapping's: the Lambda service makes these calls
# with the function's role (iam.tf, order_stream_source), and the function gets the records in
# its event. Code that made them would need grants this model does not give it.
DYNAMODB_STREAMS_CALLS = ("describe_stream", "get_records", "get_shard_iterator", "list_streams")
# A schedule names the role the Scheduler assumes: creating or updating one passes it.
SCHEDULER_CALLS = {
    "create_schedule": ("scheduler:CreateSchedule", "iam:PassRole"),
    "update_schedule": ("scheduler:UpdateSchedule", "iam:PassRole"),
    "delete_schedule": ("scheduler:DeleteSchedule",),
    "get_schedule": ("scheduler:GetSchedule",),
}


@dataclass(frozen=True, order=True)
class Grant:
    action: str
    resource: str  # "table/<name>", "table/<name>/index/<index>", "schedules", "scheduler-role"


def _table_constants():
    source = rust.load(rust.ROOT / "shared/adapters/src/dynamodb/schema.rs")
    return dict(re.findall(r'const\s+(\w+)\s*:\s*&str\s*=\s*"([^"]+)"', source.code))


@functools.cache
def adapter_functions():
    return [f for path in rust.rust_files(ADAPTERS) for f in rust.functions(path)]


@functools.cache
def table_fields(owner):
    """field => table name, from the `tables.name(table::X)` in the owner's constructor."""
    tables = _table_constants()
    fields = {}
    for f in adapter_functions():
        if f.owner == owner and f.name == "new":
            for field, const in re.findall(r"(\w+)\s*:\s*tables\.name\(\s*table::(\w+)\s*\)", f.body):
                fields[field] = tables[const]
    return fields


def _argument(body, after, method):
    """The argument of the first `.method(…)` after offset `after`, or None."""
    m = re.compile(r"\." + method + r"\(").search(body, after)
    if not m:
        return None
    return body[m.end() : rust.matching(body, m.end() - 1) - 1].strip()


def _field(argument):
    m = re.fullmatch(r"&?\s*self\.(\w+)", argument or "")
    return m.group(1) if m else None


def _constant(source, name):
    m = re.search(r"const\s+" + name + r'\s*:\s*&str\s*=\s*"([^"]+)"', source.code)
    assert m, f"{source.path}: constant {name} not found"
    return m.group(1)


def _direct_calls(f):
    """(action, table field or None for a parameter, index or None) for each AWS call in f."""
    body, found = f.body, []
    for unread in DYNAMODB_UNREAD:
        assert f".{unread}()" not in body, f"{f.source.path}: {f.name} calls {unread}, which these checks do not read"
    for call in DYNAMODB_STREAMS_CALLS:
        assert f".{call}()" not in body, f"{f.source.path}: {f.name} reads a stream ({call}), which only the event source mapping does"
    ops = [(m.start(), "dynamodb:" + DYNAMODB_CALLS[m.group(1)]) for m in re.finditer(r"\.(\w+)\(\)", body) if m.group(1) in DYNAMODB_CALLS]
    ops += [(m.start(), "dynamodb:" + DYNAMODB_ITEMS[m.group(1)]) for m in re.finditer(r"\b(\w+)::builder\(\)", body) if m.group(1) in DYNAMODB_ITEMS]
    for at, action in ops:
        table = _argument(body, at, "table_name")
        assert table is not None, f"{f.source.path}: {f.name}: {action} names no table"
        index = None
        if action == "dynamodb:Query":
            index_arg = _argument(body, at, "index_name")
            if index_arg and re.fullmatch(r"[A-Z_][A-Z0-9_]*", index_arg):
                index = _constant(f.source, index_arg)
            elif index_arg:
                index = ("param", index_arg)
        found.append((action, _field(table) or ("param", table), index))
    for call, action in DYNAMODB_BATCH_READS.items():
        if f".{call}()" in body:
            fields = table_fields(f.owner) if f.owner else {}
            mentioned = sorted(set(re.findall(r"\bself\.(\w+)", body)) & set(fields))
            assert mentioned, f"{f.source.path}: {f.name}: {action} names no table of {f.owner}"
            found += [("dynamodb:" + action, field, None) for field in mentioned]
    for m in re.finditer(r"\.(\w+)\(\)", body):
        for action in SCHEDULER_CALLS.get(m.group(1), ()):
            found.append((action, None, None))
    return found


def _callees(f):
    """Functions of the same owner (self.x(…)) or free functions of the same file (x(…)) f calls."""
    body, called = f.body, []
    for g in adapter_functions():
        if g is f:
            continue
        if g.owner == f.owner and g.owner and re.search(r"\bself\s*\.\s*" + g.name + r"\s*\(", body):
            called.append(g)
        elif g.owner is None and g.source == f.source and re.search(r"(?<![\w.:])" + g.name + r"\s*\(", body):
            called.append(g)
    return called


def grants(f, _stack=()):
    """Every Grant the adapter function f needs, following the helpers it calls. Tables passed
    in as parameters are resolved from the caller's `self.<field>` arguments or a
    `table: &self.<field>` it builds; an unresolved one is returned as ("param", …)."""
    fields = table_fields(f.owner) if f.owner else {}
    result = set()

    def add(action, table, index):
        if action.startswith("scheduler:"):
            result.add(Grant(action, "schedules"))
        elif action == "iam:PassRole":
            result.add(Grant(action, "scheduler-role"))
        elif isinstance(table, tuple) or isinstance(index, tuple):
            result.add(Grant(action, ("param", table, index)))
        else:
            assert table in fields, f"{f.source.path}: {f.name} uses self.{table}, which is no table of {f.owner}"
            name = fields[table]
            result.add(Grant(action, f"table/{name}" + (f"/index/{index}" if index else "")))

    for action, table, index in _direct_calls(f):
        add(action, table, index)
    for g in _callees(f):
        if g in _stack:
            continue
        for grant in grants(g, _stack + (f,)):
            if not isinstance(grant.resource, tuple):
                result.add(grant)
                continue
            _, table, index = grant.resource
            if isinstance(table, tuple):
                candidates = set(re.findall(r"\bself\.(\w+)", _call_arguments(f.body, g.name)))
                candidates |= set(re.findall(r"\btable\s*:\s*&?\s*self\.(\w+)", f.body))
                candidates &= set(fields)
                assert len(candidates) == 1, f"{f.source.path}: cannot tell which table {f.name} passes to {g.name}: {sorted(candidates)}"
                table = candidates.pop()
            if isinstance(index, tuple):
                names = re.findall(r"\bindex\s*:\s*([A-Z_][A-Z0-9_]*)", f.body)
                assert len(names) == 1, f"{f.source.path}: cannot tell which index {f.name} passes to {g.name}"
                index = _constant(f.source, names[0])
            add(grant.action, table, index)
    return frozenset(result)


def _call_arguments(body, name):
    text = []
    for m in re.finditer(r"(?<![\w:])" + name + r"\s*\(", body):
        text.append(body[m.end() : rust.matching(body, m.end() - 1) - 1])
    return " ".join(text)


# --- What each binary links --------------------------------------------------------------------

SYMBOL = re.compile(
    r"<orderflow_adapters::[\w:]*?(\w+) as [\w:]+::(\w+)>::(\w+)"
    r"|orderflow_adapters::[\w:]*::([A-Z]\w*)::(\w+)"
)


@functools.cache
def linked_methods(binary):
    """(owner, trait or None, method) of every adapter method `binary` links."""
    out = subprocess.run(["nm", "--demangle", str(binary)], check=True, capture_output=True, text=True).stdout
    found = set()
    for m in SYMBOL.finditer(out):
        if m.group(1):
            found.add((m.group(1), m.group(2), m.group(3)))
        else:
            found.add((m.group(4), None, m.group(5)))
    return found


def required_grants(binary):
    """What the code in `binary` calls: the grants of each adapter method it links."""
    required = set()
    linked = linked_methods(binary)
    for f in adapter_functions():
        if (f.owner, f.trait, f.name) in linked:
            for grant in grants(f):
                # A private helper's parameters are resolved through the methods that call it.
                if not isinstance(grant.resource, tuple):
                    required.add(grant)
    return required


def publishes(binary):
    """Which Kafka adapters `binary` links: "publisher" (KafkaPublisher) and "dead letters"."""
    linked = {(owner, method) for owner, _, method in linked_methods(binary)}
    kinds = set()
    if ("KafkaPublisher", "publish") in linked:
        kinds.add("KafkaPublisher")
    if ("KafkaDeadLetters", "dead_letter") in linked:
        kinds.add("KafkaDeadLetters")
    return kinds
