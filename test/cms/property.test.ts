import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeystoneAuthError, SigningMaterial, tokenToDer } from '../../src/index.js';
import { material, token } from '../helpers/fixtures.js';

const signing = new SigningMaterial(material());
const ecSigning = new SigningMaterial(material('signing-ec'));
const seeds = ['v3-rsa-sha256', 'v3-rsa-attrs', 'v3-rsa-pss', 'v3-rsa-keyid'].map((name) => Buffer.from(tokenToDer(token(name, 'pki'))));
const ecSeed = Buffer.from(tokenToDer(token('v3-ec-sha256', 'pki')));

/** Runs verification and says how it ended: 'valid' or a typed error code. Anything else fails the property. */
function verdict(input: string | Uint8Array, material = signing): string {
  try {
    material.verify(input);
    return 'valid';
  } catch (error) {
    if (!(error instanceof KeystoneAuthError)) throw new Error(`untyped failure: ${String(error)}`);
    return error.code;
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(der: Buffer, m: Mutation): Buffer {
  const at = m.at % der.length;
  switch (m.kind) {
    case 'flip': {
      const copy = Buffer.from(der);
      copy[at]! ^= 1 << m.bit;
      return copy;
    }
    case 'truncate':
      return der.subarray(0, at);
    case 'insert':
      return Buffer.concat([der.subarray(0, at), m.bytes, der.subarray(at)]);
    case 'overwrite': {
      const copy = Buffer.from(der);
      copy.set(m.bytes.subarray(0, copy.length - at), at);
      return copy;
    }
  }
}

let casesRun = 0;

test('mutated DER tokens end in a verdict or a typed error, and a changed token never verifies', () => {
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, mutations) => {
      casesRun++;
      const original = seeds[which]!;
      const mutant = mutations.reduce(apply, original);
      const result = verdict(mutant);
      // A mutant that still verifies must carry the very same signed content (e.g. a flip inside an unsigned field).
      if (result === 'valid') assert.ok(signing.verify(mutant).content.length > 0);
      if (result === 'valid' && !mutant.equals(original)) {
        const a = Buffer.from(signing.verify(mutant).content);
        const b = Buffer.from(signing.verify(original).content);
        assert.ok(a.equals(b), 'an altered body must never verify');
      }
    }),
    { numRuns: 3000, seed: 42 },
  );
});

test('mutated ECDSA tokens end in a verdict or a typed error', () => {
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
      casesRun++;
      verdict(mutations.reduce(apply, ecSeed), ecSigning);
    }),
    { numRuns: 1000, seed: 7 },
  );
});

test('random strings, PKI-looking and PKIZ-looking garbage end in typed errors', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 400 }),
    fc.string({ maxLength: 400 }).map((s) => `MII${s}`),
    fc.base64String({ maxLength: 2000 }).map((s) => `MII${s}`),
    fc.base64String({ maxLength: 2000 }).map((s) => `PKIZ_${s.replace(/\+/g, '-').replace(/\//g, '_')}`),
    fc.uint8Array({ maxLength: 2000 }).map((bytes) => `PKIZ_${Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`),
    fc.string({ maxLength: 400 }).map((s) => `-----BEGIN CMS-----\n${s}\n-----END CMS-----\n`),
  );
  fc.assert(
    fc.property(text, (input) => {
      casesRun++;
      assert.notEqual(verdict(input), 'valid');
    }),
    { numRuns: 3000, seed: 1 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
      casesRun++;
      assert.notEqual(verdict(bytes), 'valid');
    }),
    { numRuns: 1000, seed: 2 },
  );
});

test('property cases run', () => {
  console.log(`property tests: ${casesRun} generated inputs, all ended in a verdict or a typed error`);
  assert.ok(casesRun >= 8000);
});
