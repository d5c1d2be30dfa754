"""The deployment suite never skips: a test that cannot run (no helm-python-sdk, no kubectl)
fails with the reason, so a green run always means every check ran."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"tests/deploy never skips, this counts as a failure: {report.longrepr}"
