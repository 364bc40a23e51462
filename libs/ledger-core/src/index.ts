export { GENESIS_HASH, chainHashInput, chainHashOf, eventHashOf, isSha256Hex } from './encoding.ts';
export { ChainIndex, chainDecider, chainedSeqOf, headOf, initialChainState } from './chain.ts';
export type {
  AppendEvent,
  ChainCommand,
  ChainEntry,
  ChainEvent,
  ChainHead,
  ChainOptions,
  ChainState,
  CheckpointDue,
  EventChained,
  EventSource,
} from './chain.ts';
export { verifyChain } from './verify.ts';
export type { VerifyFailure, VerifyFailureKind, VerifyOptions, VerifyResult, VerifySuccess } from './verify.ts';
export { checkpointPayload, signHead, verifyHead } from './checkpoint.ts';
export type { SignedHead } from './checkpoint.ts';
