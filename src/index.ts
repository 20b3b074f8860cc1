export * from './errors.js';
export { classifyToken, tokenToDer, inflateBounded, PKI_PREFIX, PKIZ_PREFIX, DEFAULT_MAX_INFLATED_BYTES, DEFAULT_MAX_TOKEN_LENGTH } from './token/format.js';
export type { TokenFormat, DecodeLimits } from './token/format.js';
export { hashToken, tokenLogId } from './token/hash.js';
export { verifySignedToken, SigningMaterial } from './cms/verify.js';
export type { SigningMaterialInput, VerifiedToken, VerifyOptions } from './cms/verify.js';
