"""Python keystonemiddleware (Debian's, 10.1) in front of an app that echoes what it was given: the reference the
Node middleware is compared with on the same requests. argv: port, JSON of the [keystone_authtoken] options, and
optionally the filter: auth_token (default) or oauth2_token (OAuth2 access tokens in Authorization: Bearer)."""
import json
import logging
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from keystonemiddleware import auth_token, oauth2_token

logging.basicConfig(level=logging.ERROR)


def echo(environ, start_response):
    headers = {}
    for key, value in environ.items():
        if key.startswith('HTTP_') and value is not None:
            headers[key[5:].replace('_', '-').lower()] = value
    body = json.dumps({'seen': headers}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


port = int(sys.argv[1])
conf = json.loads(sys.argv[2])
filter_name = sys.argv[3] if len(sys.argv) > 3 else 'auth_token'
app = (oauth2_token.OAuth2Protocol if filter_name == 'oauth2_token' else auth_token.AuthProtocol)(echo, conf)
server = make_server('127.0.0.1', port, app, handler_class=Quiet)
print('ready', flush=True)
server.serve_forever()
