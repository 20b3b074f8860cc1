/**
 * A Python script that writes or reads one entry with keystonemiddleware's own token cache (_cache.TokenCache, or
 * SecureTokenCache for MAC/ENCRYPT): `python3 -c PYTHON_TOKEN_CACHE write|read <host:port> <None|MAC|ENCRYPT>
 * <secret> <token id>`, the entry's JSON on stdin (write) or stdout (read).
 */
export const PYTHON_TOKEN_CACHE = `
import sys, json, logging
from keystonemiddleware.auth_token import _cache
mode, server, strategy, secret, token_id = sys.argv[1:6]
log = logging.getLogger('interop')
kwargs = dict(cache_time=300, memcached_servers=[server], use_advanced_pool=False)
cache = _cache.TokenCache(log, **kwargs) if strategy == 'None' else _cache.SecureTokenCache(log, strategy, secret, **kwargs)
cache.initialize({})
if mode == 'write':
    cache.set(token_id, json.loads(sys.stdin.read()))
else:
    print(json.dumps(cache.get(token_id)))
`;
