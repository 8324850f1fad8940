/** All checks, one per invariant of docs/kernel-model.md §5. Stateful checks are built per engine. */
import { createBusyWaitStuck } from './busy-wait-stuck.js';
import { compoundPgmapMismatch } from './compound-pgmap-mismatch.js';
import { devmapInNewModel } from './devmap-in-new-model.js';
import { entryRemovedWhileBusy } from './entry-removed-while-busy.js';
import { freeWhileMapped } from './free-while-mapped.js';
import { createIdleRefcountMismatch } from './idle-refcount-mismatch.js';
import { longtermPinOnFsdax } from './longterm-pin-on-fsdax.js';
import { mapZeroRef } from './map-zero-ref.js';
import { pageFreeMissing } from './page-free-missing.js';
import { refcountUnderflow } from './refcount-underflow.js';
import { teardownWithLiveFolios } from './teardown-with-live-folios.js';
import type { Check } from './types.js';

export function allChecks(): Check[] {
  return [
    mapZeroRef,
    refcountUnderflow,
    freeWhileMapped,
    entryRemovedWhileBusy,
    teardownWithLiveFolios,
    createIdleRefcountMismatch(),
    compoundPgmapMismatch,
    createBusyWaitStuck(),
    pageFreeMissing,
    devmapInNewModel,
    longtermPinOnFsdax,
  ];
}
