// conntrackd's Filter: the userspace checks every event, dump and resync goes
// through, and the BPF program `Filter From Kernelspace` puts on the event socket.

export {
  conntrackSanity,
  CtFilter,
  type DropReason,
  expectHelperAccepted,
  masterSanity,
  SANITY_MESSAGES,
  type SanityFailure,
  TCP_STATE_NUMBERS,
} from "./userspace.ts";
export { attachKernelFilter, BPF_INSN_SIZE, buildKernelFilter, KernelFilterError } from "./bpf.ts";
