"""`forewarn demo`: a self-contained tour on simulated sensors with labelled faults."""

from forewarn.demo.report import Evaluation, FaultOutcome, combine, evaluate
from forewarn.demo.run import ADMIN_EMAIL, GRACE_MS, AdminLogin, DemoResult, run_demo

__all__ = [
    "ADMIN_EMAIL",
    "GRACE_MS",
    "AdminLogin",
    "DemoResult",
    "Evaluation",
    "FaultOutcome",
    "combine",
    "evaluate",
    "run_demo",
]
