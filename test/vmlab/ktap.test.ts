import { describe, expect, it } from 'vitest';
import { ktapTally, parseKtap } from '../../lab/src/ktap.js';

// The shape of hmm-tests' output (kselftest_harness.h), shortened.
const SAMPLE = `TAP version 13
1..4
# Starting 4 tests from 2 test cases.
#  RUN           hmm.hmm_device_private.open_close ...
#            OK  hmm.hmm_device_private.open_close
ok 1 hmm.hmm_device_private.open_close
#  RUN           hmm.hmm_device_coherent.open_close ...
#      SKIP      DEVICE_COHERENT not available
#            OK  hmm.hmm_device_coherent.open_close
ok 2 hmm.hmm_device_coherent.open_close # SKIP DEVICE_COHERENT not available
#  RUN           hmm.hmm_device_private.anon_write ...
# hmm-tests.c:300:anon_write:Expected ret (-22) == 0 (0)
not ok 3 hmm.hmm_device_private.anon_write
# FAILED: 2 / 4 tests passed.
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0
`;

describe('parseKtap', () => {
  it('gives every test its own verdict, with the skip reason', () => {
    const r = parseKtap(SAMPLE);
    expect(r.planned).toBe(4);
    expect(r.results).toEqual([
      { number: 1, name: 'hmm.hmm_device_private.open_close', status: 'pass' },
      {
        number: 2,
        name: 'hmm.hmm_device_coherent.open_close',
        status: 'skip',
        reason: 'DEVICE_COHERENT not available',
      },
      { number: 3, name: 'hmm.hmm_device_private.anon_write', status: 'fail' },
    ]);
    expect(r.totals).toEqual({ pass: 1, fail: 1, xfail: 0, xpass: 0, skip: 1, error: 0 });
    expect(ktapTally(r)).toEqual({ pass: 1, fail: 1, skip: 1, xfail: 0 });
  });
  it('names the tests the plan promised that never reported (a crash mid-suite)', () => {
    expect(parseKtap(SAMPLE).missing).toEqual([4]);
  });
  it('an XFAIL directive and a "not ok" with SKIP count as what the directive says', () => {
    const r = parseKtap('1..2\nnot ok 1 a # XFAIL known\nnot ok 2 b # SKIP no device\n');
    expect(r.results.map((x) => x.status)).toEqual(['xfail', 'skip']);
  });
  it('empty output: no plan, nothing missing', () => {
    expect(parseKtap('')).toEqual({ planned: undefined, results: [], totals: undefined, missing: [] });
  });
});
