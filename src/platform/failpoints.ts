/**
 * Failpoints: named places in the code where the fault simulator may inject a crash, and
 * planted bugs, deliberately wrong behaviours it may turn on to prove that its invariants can
 * fail. Both are inert unless a simulator has armed them in its own process: nothing in the
 * gateway arms them, no configuration reaches them, and an unarmed failpoint costs one
 * comparison with `undefined`.
 *
 * A crash injected at a failpoint is the simulator's gateway process killing itself there with
 * SIGKILL: nothing after the failpoint runs, its connections close, and the transaction it is in
 * rolls back.
 */

/** Where a crash may be injected. */
export const FAILPOINTS = [
  /** The watcher has written a batch of journal entries; its transaction has not committed. */
  'watcher.confirm.before_commit',
  /** The watcher's batch of journal entries has committed; the pass goes on to the next. */
  'watcher.confirm.after_commit',
  /** The watcher has stored a range's transfers and moved its cursor; not yet committed. */
  'watcher.store.before_commit',
  /** The relayer has broadcast a transaction and not yet recorded that it did. */
  'relayer.after_broadcast',
  /** A webhook event is claimed for delivery; nothing is sent yet. */
  'webhooks.before_post',
  /** A webhook's receiver has answered; the delivery is not yet recorded. */
  'webhooks.after_post',
  /** The audit chainer is about to move a batch onto the chain. */
  'audit.before_chaining',
] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

/** Bugs the simulator may plant, each one that a money invariant must catch. */
export const PLANTS = {
  skip_reorg_hash_check: 'the watcher never compares stored block hashes with the chain, so a reorg is not rolled back',
  post_twice: 'a final payment is posted twice, under two idempotency keys',
  webhook_marked_before_send: 'a webhook is recorded delivered before it is sent, so a crash in between loses it',
  confirm_before_final: 'the watcher posts transfers one block before they are final',
} as const;
export type PlantName = keyof typeof PLANTS;

/** What a simulator arms: asked at every failpoint, and whether a bug is planted. */
export interface FailpointController {
  /** Kills the process to crash at `name`, or returns to go on. */
  reached(name: FailpointName): void;
  planted(name: PlantName): boolean;
}

let armed: FailpointController | undefined;

/** Marks a place where a crash may be injected. */
export function failpoint(name: FailpointName): void {
  armed?.reached(name);
}

/** Whether the simulator has planted bug `name`. Always false in the gateway. */
export function planted(name: PlantName): boolean {
  return armed?.planted(name) ?? false;
}

/** Arms the failpoints of this process; returns how to disarm them. For the simulator only. */
export function armFailpoints(controller: FailpointController): () => void {
  armed = controller;
  return () => {
    if (armed === controller) armed = undefined;
  };
}
