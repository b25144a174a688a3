// The modules every agent runs, in the order they see each input (the log ticks before membership
// probes, as it always has). Adding a protocol is one line here (plus its own folder); its rows live in
// the shared row store under its name.
import { Health } from "./health/module";
import { Membership } from "./membership/swim";
import { KvStore } from "./memory/kv";
import { Metrics } from "./metrics/module";
import { Messages } from "./messages/log";
import { Partition } from "./partition/module";
import { ProposalBook } from "./proposals/book";
import { KeyBook } from "./proposals/keys";
import { Proposals } from "./proposals/module";
import type { Context } from "./protocol";
import { ReplicatedLog } from "./raft/module";
import { Tasks } from "./tasks/module";

export function buildModules(ctx: (mod: string) => Context) {
  // Proposals decided on the log and by PBFT share one state machine's code (two instances).
  const onLog = new ProposalBook("proposals");
  const byPbft = new ProposalBook("pbft");
  const keys = new KeyBook();
  return {
    raft: new ReplicatedLog(ctx("raft"), [new KvStore(), onLog, keys]),
    membership: new Membership(ctx("membership")),
    messages: new Messages(ctx("messages")),
    partition: new Partition(ctx("partition")),
    proposals: new Proposals(ctx("proposals"), onLog, byPbft, keys),
    health: new Health(ctx("health")),
    tasks: new Tasks(ctx("tasks")),
    metrics: new Metrics(ctx("metrics")),
  };
}

export type Modules = ReturnType<typeof buildModules>;
