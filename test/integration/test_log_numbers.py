"""Every error-log line of the suite carries a message number (AIPLOGNO, include/aiproxy_log.h),
numbers are unique and in their file's range, and every glue file logs as its module
(APLOG_USE_MODULE, or the module's own AP_DECLARE_MODULE), so `LogLevel aiproxy:debug` works."""

import re

from harness import REPO

GLUE = sorted(REPO.glob("mod_aiproxy*/mod_*.c"))
# a call and the text up to its format string (the first string literal)
CALL = re.compile(r'ap_log_[a-z]*error\(\s*APLOG_MARK,([^"]*"?)', re.S)


def test_every_log_call_is_numbered_once():
    seen = {}
    for path in GLUE:
        for call in CALL.finditer(path.read_text()):
            args = call.group(1)
            number = re.search(r'AIPLOGNO\((\d{5})\)\s*"$', args)
            assert number, f"{path.name}: log call without AIPLOGNO: {args[:120]}"
            assert number.group(1) not in seen, (
                f"AIP{number.group(1)} used in {path.name} and {seen[number.group(1)]}")
            seen[number.group(1)] = path.name
    assert len(seen) >= 20


def test_every_glue_file_logs_as_its_module():
    for path in GLUE:
        text = path.read_text()
        if "ap_log_" in text:
            assert "APLOG_USE_MODULE(" in text or "AP_DECLARE_MODULE(" in text, path.name
