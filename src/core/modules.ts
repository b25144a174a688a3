// The modules every agent runs, in the order they see each input (the log ticks before membership
// probes, as it always has). Adding a protocol is one line here (plus its own folder); its rows live in
// the shared row store under its name.
import { Health } from "./health/module";
import { Membership } from "./membership/swim";
import { KvStore } from "./memory/kv";
import { Metrics } from "./metrics/module";
import { Messages } from "./messages/log";
import { Partition } from "./partition/module";
import type { Context } from "./protocol";
import { ReplicatedLog } from "./raft/module";

export function buildModules(ctx: (mod: string) => Context) {
  return {
    raft: new ReplicatedLog(ctx("raft"), [new KvStore()]),
    membership: new Membership(ctx("membership")),
    messages: new Messages(ctx("messages")),
    partition: new Partition(ctx("partition")),
    health: new Health(ctx("health")),
    metrics: new Metrics(ctx("metrics")),
  };
}

export type Modules = ReturnType<typeof buildModules>;
