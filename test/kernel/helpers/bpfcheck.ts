/** What the checker prints on the development machines (docs/kernel-model.md §4.1). */
export const RESTRICTED_HOST_JSON = JSON.stringify({
  tracepoint: { loads: true, detail: 'loaded' },
  raw_tp: { loads: true, detail: 'loaded' },
  tp_btf: { loads: true, detail: 'loaded (fs_dax/dax_pte_fault)' },
  kprobe: { loads: false, detail: 'attach: ENOENT (CONFIG_KPROBES=n?)' },
  fentry: { loads: false, detail: 'load: EPERM' },
});
