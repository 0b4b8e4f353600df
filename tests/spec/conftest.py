import os
import sys

# `from spec_strategies import specs` works in tests/spec, as `from helpers import ...` does in
# tests/.
sys.path.insert(0, os.path.dirname(__file__))
