"""The reference peer: Debian's python3-keystoneclient (keystoneclient.common.cms), the code Keystone signed
PKI and PKIZ tokens with and keystonemiddleware verified them with (which runs openssl).

  sign:   stdin [{"text", "cert", "key", "md", "form": "pki" | "pkiz" | "text"}]  -> stdout [token or PEM text]
  verify: stdin [{"token", "cert", "ca"}]  -> stdout [{"ok": bool, "content": str | null, "error": str}]

verify decides as keystonemiddleware's offline path did: PKIZ through cms.pkiz_verify, PKI through
cms.cms_verify(cms.token_to_cms(token)); any exception is a refusal.
"""
import json
import sys
from keystoneclient.common import cms


def sign(item):
    if item['form'] == 'pki':
        return cms.cms_sign_token(item['text'], item['cert'], item['key'], message_digest=item['md'])
    if item['form'] == 'pkiz':
        return cms.pkiz_sign(item['text'], item['cert'], item['key'], message_digest=item['md'])
    return cms.cms_sign_text(item['text'], item['cert'], item['key'], message_digest=item['md'])


def verify(item):
    token = item['token']
    try:
        if cms.is_pkiz(token):
            out = cms.pkiz_verify(token, item['cert'], item['ca'])
        else:
            out = cms.cms_verify(cms.token_to_cms(token), item['cert'], item['ca'])
        if isinstance(out, bytes):
            out = out.decode('utf-8', 'replace')
        return {'ok': True, 'content': out, 'error': ''}
    except Exception as error:  # noqa: BLE001 - every failure is a refusal, as in keystonemiddleware
        return {'ok': False, 'content': None, 'error': '%s: %s' % (type(error).__name__, str(error)[:300])}


if __name__ == '__main__':
    items = json.load(sys.stdin)
    job = {'sign': sign, 'verify': verify}[sys.argv[1]]
    json.dump([job(item) for item in items], sys.stdout)
