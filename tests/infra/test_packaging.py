"""The zips `make package` builds run on Lambda's provided.al2023; the Kafka clients' zips can
reach MSK (TLS and SASL OAUTHBEARER, MSK IAM, compiled in), and the others carry no Kafka client
at all."""

import os
import re
import subprocess
import zipfile

import pytest

import rust
import terraform

CRATES = sorted(rust.function_crates())
# The functions infra/ gives the brokers' address (and places in the VPC to reach them).
KAFKA_CLIENTS = sorted(terraform.vpc_functions())
WITHOUT_KAFKA = sorted(set(CRATES) - set(KAFKA_CLIENTS))
PACKAGES = rust.ROOT / "target" / "lambda"
ARCH = os.environ.get("LAMBDA_ARCH", "arm64")
MACHINE = {"arm64": "AArch64", "x86_64": "Advanced Micro Devices X86-64"}[ARCH]
# provided.al2023 has glibc 2.34.
MAX_GLIBC = (2, 34)
# Only glibc's own libraries (and the GCC runtime glibc loads) may be linked dynamically: they
# are the part of provided.al2023 a function can count on. OpenSSL is linked statically.
AL2023_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                    "libutil.so.1", "libgcc_s.so.1", "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2"}
# A string of librdkafka's SASL/OAUTHBEARER support, compiled in only with it, and OpenSSL's
# version text, in a binary that links OpenSSL statically: MSK IAM is OAUTHBEARER over TLS.
OAUTHBEARER = b"SASL/OAUTHBEARER extension keys must not be empty"
OPENSSL = re.compile(rb"OpenSSL 3\.\d+\.\d+ ")
# What a binary with librdkafka in it holds whatever it was built with: its name, and its
# functions' names (rd_kafka_*) in its own log and assertion messages. A stripped binary keeps
# both, as strings.
LIBRDKAFKA = (b"librdkafka", b"rd_kafka_")


def unpack(crate, tmp_path_factory):
    archive = PACKAGES / crate / "bootstrap.zip"
    assert archive.is_file(), f"{archive} is missing: run `make package`"
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["bootstrap"]
        info = zipped.getinfo("bootstrap")
        assert (info.external_attr >> 16) & 0o111, "bootstrap must be executable"
        path = tmp_path_factory.mktemp(crate) / "bootstrap"
        path.write_bytes(zipped.read("bootstrap"))
    return path


@pytest.fixture(scope="module", params=CRATES)
def bootstrap(request, tmp_path_factory):
    return unpack(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=KAFKA_CLIENTS)
def kafka_client(request, tmp_path_factory):
    return unpack(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=WITHOUT_KAFKA)
def without_kafka(request, tmp_path_factory):
    return unpack(request.param, tmp_path_factory)


def readelf(*args):
    return subprocess.run(["readelf", "--wide", *args], check=True, capture_output=True, text=True).stdout


def test_bootstrap_is_built_for_the_architecture_terraform_deploys(bootstrap):
    assert f"Machine:                           {MACHINE}" in readelf("--file-header", str(bootstrap))


def test_bootstrap_needs_at_most_glibc_2_34(bootstrap):
    versions = {tuple(int(n) for n in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", readelf("--version-info", str(bootstrap)))}
    dynamic = readelf("--dynamic", str(bootstrap))
    if "There is no dynamic section" in dynamic:
        return  # static: no glibc to match
    assert versions, "a dynamic executable without glibc symbol versions"
    assert max(versions) <= MAX_GLIBC, f"needs GLIBC_{'.'.join(map(str, max(versions)))}"
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    assert needed <= AL2023_LIBRARIES, f"links {sorted(needed - AL2023_LIBRARIES)} dynamically"


def test_kafka_client_has_tls_and_sasl_oauthbearer(kafka_client):
    data = kafka_client.read_bytes()
    assert all(marker in data for marker in LIBRDKAFKA), "librdkafka is not linked in"
    assert OAUTHBEARER in data, "librdkafka was built without SASL/OAUTHBEARER"
    assert OPENSSL.search(data), "OpenSSL is not linked in: librdkafka was built without TLS"


def test_the_other_functions_carry_no_kafka_client(without_kafka):
    # scripts/infra.sh builds every function at once, so Cargo compiles the adapters' Kafka code
    # for these too: only the linker, finding no call to it, keeps librdkafka out of them.
    data = without_kafka.read_bytes()
    found = [marker.decode() for marker in LIBRDKAFKA if marker in data]
    assert not found, f"librdkafka is linked in ({', '.join(found)} found)"


def test_the_topic_creator_is_packaged_with_its_dependencies():
    archive = PACKAGES / "kafka-topics" / "kafka-topics.zip"
    assert archive.is_file(), f"{archive} is missing: run `make package`"
    names = set(zipfile.ZipFile(archive).namelist())
    assert "kafka_topics.py" in names
    assert "kafka/admin/__init__.py" in names
    assert "aws_msk_iam_sasl_signer/__init__.py" in names
    # boto3 and botocore come with the Lambda runtime.
    assert not any(name.startswith(("boto3/", "botocore/")) for name in names)
