"""Just enough reading of the workspace's Rust to tell what each function reads from its
environment and what each adapter method calls in AWS. Comments and `#[cfg(test)]` modules are
ignored; anything this reading does not recognise makes it fail, never guess."""

import functools
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where cargo puts what it builds: `CARGO_TARGET_DIR`, relative to the root, or `target`.
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")


@dataclass(frozen=True)
class Source:
    """A Rust file with its comments blanked (`code`), and also its string literals' contents
    blanked (`masked`), at unchanged offsets: structure is read from `masked`, literals from
    `code`."""

    path: Path
    code: str
    masked: str

    def literals(self, start, end):
        """The string literals between two offsets."""
        return re.findall(r'"((?:[^"\\]|\\.)*)"', self.code[start:end], re.DOTALL)


def _blank(text):
    return re.sub(r"[^\n]", " ", text)


@functools.cache
def load(path):
    text = Path(path).read_text()
    code, masked, i, n = [], [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            code.append(_blank(text[i:end]))
            masked.append(_blank(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            code.append(_blank(text[i:j]))
            masked.append(_blank(text[i:j]))
            i = j
        elif (m := re.compile(r'r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            closing = '"' + m.group(1)
            end = text.find(closing, m.end()) + len(closing)
            code.append(text[i:end])
            masked.append(text[i : m.end()] + _blank(text[m.end() : end - len(closing)]) + closing)
            i = end
        elif text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            code.append(text[i : j + 1])
            masked.append('"' + _blank(text[i + 1 : j]) + '"')
            i = j + 1
        elif (m := re.compile(r"'(?:[^'\\\n]|\\[^\n]{1,9}?)'").match(text, i)):
            code.append(m.group(0))
            masked.append("'" + _blank(m.group(0)[1:-1]) + "'")
            i = m.end()
        else:
            code.append(text[i])
            masked.append(text[i])
            i += 1
    code, masked = "".join(code), "".join(masked)
    # Test modules are not what runs in Lambda.
    for m in reversed(list(re.finditer(r"#\[cfg\([^\]]*\btest\b[^\]]*\)\]\s*mod\s+\w+\s*\{", masked))):
        end = matching(masked, m.end() - 1)
        code = code[: m.start()] + _blank(code[m.start() : end]) + code[end:]
        masked = masked[: m.start()] + _blank(masked[m.start() : end]) + masked[end:]
    return Source(Path(path), code, masked)


def matching(masked, open_at):
    """The offset just after the bracket that closes the one at `open_at`."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    opening, closing = masked[open_at], pairs[masked[open_at]]
    depth = 0
    for i in range(open_at, len(masked)):
        if masked[i] == opening:
            depth += 1
        elif masked[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError(f"unbalanced {opening} at {open_at}")


@dataclass(frozen=True)
class Fn:
    source: Source
    owner: str | None  # the type of the impl block, None for a free function
    trait: str | None
    name: str
    start: int  # the body, braces included
    end: int

    @property
    def body(self):
        return self.source.masked[self.start : self.end]


IMPL = re.compile(r"\bimpl\b(?:\s*<[^{]*?>)?\s+(?:([\w:]+)(?:<[^{]*?>)?\s+for\s+)?([\w:]+)(?:<[^{]*?>)?[^{;]*\{")
FN = re.compile(r"\bfn\s+(\w+)\b[^{;]*\{")


def functions(path):
    """Every function with a body in `path`, with the impl block it belongs to."""
    source = load(path)
    masked, found, impls = source.masked, [], []
    for m in IMPL.finditer(masked):
        impls.append((m.end() - 1, matching(masked, m.end() - 1), m.group(2).split("::")[-1], m.group(1) and m.group(1).split("::")[-1]))
    for m in FN.finditer(masked):
        start = m.end() - 1
        owner = next(((o, t) for s, e, o, t in impls if s < start < e), (None, None))
        found.append(Fn(source, owner[0], owner[1], m.group(1), start, matching(masked, start)))
    return found


def rust_files(*directories):
    return [p for d in directories for p in sorted((ROOT / d).rglob("*.rs"))]


# --- Function crates ---------------------------------------------------------------------------


@functools.cache
def function_crates():
    """Package name => directory, for every workspace member under functions/."""
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    crates = {}
    for member in members:
        if member.startswith("functions/"):
            manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
            crates[manifest["package"]["name"]] = ROOT / member
    return crates


ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{2,}[A-Z0-9]*")


def environment_variables(crate):
    """The variables a function's config.rs reads: every string literal in it that is a variable
    name, and the same in each `Type::function(…, var …)` it hands its reader to, transitively."""
    config = ROOT / "functions" / crate / "src" / "config.rs"
    shared = [f for f in functions_in_workspace() if f.owner]
    names, seen = set(), set()

    def visit(source, start, end):
        names.update(lit for lit in source.literals(start, end) if ENV_NAME.fullmatch(lit))
        masked = source.masked
        for call in re.finditer(r"\b([A-Z]\w*)::(\w+)\s*\(", masked[start:end]):
            open_at = start + call.end() - 1
            arguments = masked[open_at : matching(masked, open_at)]
            if not re.search(r"\bvar\b", arguments):
                continue
            key = (call.group(1), call.group(2))
            # Self:: is in the file being read already.
            if key[0] == "Self" or key in seen:
                continue
            seen.add(key)
            targets = [f for f in shared if (f.owner, f.name) == key]
            assert targets, f"{config}: {key[0]}::{key[1]} gets the variable reader, but its source was not found"
            for target in targets:
                visit(target.source, target.start, target.end)

    source = load(config)
    visit(source, 0, len(source.masked))
    return names


@functools.cache
def functions_in_workspace():
    return [f for path in rust_files("shared") for f in functions(path) if "/tests/" not in str(path)]
