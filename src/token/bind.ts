import { TokenRejectedError } from '../errors.js';
import type { Identity } from './access-info.js';

/**
 * enforce_token_bind as keystonemiddleware applies it:
 * - disabled: no check;
 * - permissive: bound tokens must satisfy the binds this server knows (kerberos), unknown kinds pass;
 * - strict: as permissive, but unknown bind kinds are refused;
 * - required: the token must be bound, and satisfy its binds;
 * - any other value: the token must carry that bind kind, and satisfy it.
 * `remoteUser` is the authenticated Kerberos principal of the request, if the server has one.
 */
export function checkBind(identity: Identity, mode: string, remoteUser: string | undefined): void {
  if (mode === 'disabled') return;
  const bind = identity.bind;
  const kinds = bind ? Object.keys(bind) : [];
  if (kinds.length === 0) {
    if (mode === 'permissive' || mode === 'strict') return; // the common case: checked on every request
    refuse(mode, mode === 'required' ? 'the token is not bound' : `the token is not bound to ${mode}`);
  }
  for (const kind of kinds) {
    if (kind === 'kerberos') {
      if (!remoteUser || remoteUser !== bind![kind]) refuse(mode, 'the token is bound to a Kerberos principal this request did not authenticate as');
    } else if (mode !== 'permissive') {
      refuse(mode, `the token is bound to ${kind}, which this server cannot verify`);
    }
  }
  if (!['permissive', 'strict', 'required'].includes(mode) && !kinds.includes(mode)) refuse(mode, `the token is not bound to ${mode}`);
}

function refuse(mode: string, why: string): never {
  throw new TokenRejectedError('ERR_TOKEN_BIND', `token bind check failed (enforce_token_bind = ${mode}): ${why}`);
}
