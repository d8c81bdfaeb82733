import sys
from pathlib import Path

# The helpers beside the tests (terraform.py, rust.py, aws_calls.py) import as modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
