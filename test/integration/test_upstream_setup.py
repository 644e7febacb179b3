"""How AIProxyUpstream lines are read: quoted values in the documented form."""

import pytest

from harness import post_json


@pytest.mark.parametrize("setting", [
    'header="X-Tenant: t1"',          # the documented form
    '"header=X-Tenant: t1"',          # httpd's whole-word quoting
    "header='X-Tenant: t1'",
])
def test_header_setting_forms(make_gateway, mock, setting):
    gw = make_gateway(f"AIProxyUpstream h {mock.base_url('openai')} api=openai token=k "
                      f"models=m {setting} "
                      'header="X-Note: say \\"hi\\" twice"')
    mock.clear()
    status, _, body = post_json(gw.url("/v1/chat/completions"),
                                {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert status == 200, body
    headers = mock.last("openai")["headers"]
    assert headers["x-tenant"] == "t1"
    assert headers["x-note"] == 'say "hi" twice'


def test_unclosed_quote_is_refused(make_gateway, mock):
    from harness import HttpdError
    with pytest.raises(HttpdError) as failure:
        make_gateway(f"AIProxyUpstream h {mock.base_url('openai')} api=openai token=k "
                     'header="X-Tenant: t1')
    assert "AIProxyUpstream h: missing closing \"" in str(failure.value)


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_base_url_with_trailing_slash(make_gateway, suffix):
    """A base URL written with a trailing slash reaches the same paths as one without (the
    raw-socket upstream records the request line as sent: httpd would merge the slashes)."""
    from fault_upstream import FaultUpstream
    upstream = FaultUpstream().start()
    try:
        gw = make_gateway(f"AIProxyUpstream o {upstream.base_url()}{suffix} api=openai "
                          "token=t models=m")
        status, _, payload = post_json(gw.url("/v1/chat/completions"), {
            "model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, payload
        assert [r["path"] for r in upstream.records] == ["/v1/chat/completions"]
    finally:
        upstream.stop()
