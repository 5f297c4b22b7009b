"""The browser tests run the real system as tests/e2e does: its `RunningSystem` is imported from there.

pytest puts a test file's own folder on the module path (rootdir-relative imports, no packages), so
tests/e2e is added here for `import test_seed_story`, as test_kafka_outage.py does from its own folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if E2E not in sys.path:
    sys.path.append(E2E)
