// Proposals and votes (`daa_consensus`): the one implementation behind the HTTP routes and the MCP
// tool. A proposal is made at an entry agent (its proposer) on a side that may write; a vote is cast by
// the voting agent itself (only it can sign it); a proposal is read from the agents. Under pbft the
// answer is the outcome that f+1 replicas agree on (at least one of them is correct), so up to f lying
// replicas cannot forge a status.
import { isRefusal, type Refusal } from "../../contract";
import type { ProposeResult, VoteResult } from "../../core/proposals/module";
import type { ProposalInput, VoteValue } from "../../core/vote/tally";
import type { Env } from "../../env";
import { ApiError, badRequest, conflict, notFound } from "../errors";
import { agentError, agentStub, entryBrief, getSwarm, mapLimit, randomId, requireMember, unwrap, type EntryOptions } from "../mesh";

import type { Proposals } from "../../core/proposals/module";

type View = NonNullable<ReturnType<Proposals["get"]>> & { agreedBy?: number };

export async function createProposal(
  env: Env,
  swarmId: string,
  body: ProposalInput & { proposalId?: string },
  opts: EntryOptions = {},
): Promise<{ proposalId: string; status: string; protocol: string; proposer: string }> {
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) throw new ApiError(503, "no_quorum", `Swarm ${swarmId} has no agents.`);
  if (body.agents && body.agents !== "all") for (const a of body.agents) requireMember(rec, a);
  const entry = await entryBrief(env, rec, { ...opts, write: true });
  const proposalId = body.proposalId ?? randomId("prop-");
  let r: ProposeResult | Refusal;
  try {
    r = (await agentStub(env, swarmId, entry.agentId).propose({ ...body, proposalId })) as ProposeResult | Refusal;
  } catch (err) {
    throw agentError(err, entry.agentId);
  }
  const out = unwrap<ProposeResult>(r, entry.agentId);
  if (!out.ok) {
    if (out.code === "conflict") throw conflict(`Proposal ${proposalId} already exists.`);
    throw badRequest(`Invalid body: body.${out.field} ${out.message}.`, { field: `body.${out.field}` });
  }
  return { proposalId, status: out.status, protocol: body.protocol ?? "gossip", proposer: entry.agentId };
}

/**
 * A vote by `agentId`, cast at that agent. A proposal not yet known there (it is still spreading) is
 * retried for a few seconds before the answer is 404.
 */
export async function castVote(env: Env, swarmId: string, proposalId: string, body: { agentId: string; vote: VoteValue }): Promise<{ proposalId: string; status: string; agentId: string; vote: VoteValue; result: string }> {
  const rec = await getSwarm(env, swarmId);
  requireMember(rec, body.agentId);
  const until = Date.now() + 5000;
  for (;;) {
    let r: VoteResult | Refusal;
    try {
      r = (await agentStub(env, swarmId, body.agentId).vote(proposalId, body.vote)) as VoteResult | Refusal;
    } catch (err) {
      throw agentError(err, body.agentId);
    }
    const out = unwrap<VoteResult>(r, body.agentId);
    if (out.ok) return { proposalId, status: out.status, agentId: body.agentId, vote: body.vote, result: out.result };
    if (out.code === "conflict") throw conflict(out.message);
    if (out.code === "not_eligible") throw new ApiError(403, "forbidden", out.message, { agentId: body.agentId });
    if (out.code === "not_found" && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    throw notFound(out.message);
  }
}

/** A proposal's outcome: from the agents that know it; under pbft, what f+1 replicas agree on. */
export async function getProposal(env: Env, swarmId: string, proposalId: string): Promise<View> {
  const rec = await getSwarm(env, swarmId);
  const answers = (
    await mapLimit(rec.agents, 16, async (a) => {
      try {
        const r = (await agentStub(env, swarmId, a).proposal(proposalId)) as
          | { outcome: View | null; replica: boolean; replicas: string[] }
          | Refusal;
        return isRefusal(r) ? null : { agent: a, ...r };
      } catch {
        return null;
      }
    })
  ).filter((x): x is NonNullable<typeof x> => x !== null && x.outcome !== null);
  if (answers.length === 0) throw notFound(`Proposal ${proposalId} is not known to any answering agent of swarm ${swarmId}.`);
  const protocol = answers[0].outcome!.protocol;
  if (protocol === "pbft") {
    const replicas = answers.filter((a) => a.replica);
    const n = answers[0].replicas.length;
    const f = Math.floor((n - 1) / 3);
    // Agreement on the decision (status and its moment); votes still arriving after it do not split
    // the answer. The counts reported are ones at least f+1 of the agreeing replicas reach, so at least
    // one correct replica stands behind them.
    const tally = new Map<string, View[]>();
    for (const a of replicas) {
      const k = JSON.stringify({ s: a.outcome!.status, d: a.outcome!.decidedAt });
      tally.set(k, [...(tally.get(k) ?? []), a.outcome!]);
    }
    const agreed = Array.from(tally.values()).filter((vs) => vs.length >= f + 1).sort((a, b) => b.length - a.length)[0];
    if (!agreed) throw new ApiError(503, "no_quorum", `Fewer than f+1 = ${f + 1} PBFT replicas agree on proposal ${proposalId} yet.`);
    const nth = (xs: number[]) => xs.sort((a, b) => b - a)[f];
    const votes = { approve: nth(agreed.map((v) => v.votes.approve)), reject: nth(agreed.map((v) => v.votes.reject)), eligible: agreed[0].votes.eligible };
    const base = agreed.find((v) => v.votes.approve === votes.approve && v.votes.reject === votes.reject) ?? agreed[0];
    return { ...base, votes, agreedBy: agreed.length } as View;
  }
  // Ordered (raft) or gossip: prefer an answer that has decided; else the most votes seen.
  const rank = (v: View) => (v.status === "pending" ? 0 : 1) * 1e6 + v.votes.approve + v.votes.reject;
  return answers.map((a) => a.outcome!).sort((a, b) => rank(b) - rank(a))[0];
}

export async function listProposals(env: Env, swarmId: string, opts: EntryOptions = {}): Promise<{ proposals: unknown[]; via: string }> {
  const rec = await getSwarm(env, swarmId);
  if (rec.agents.length === 0) return { proposals: [], via: "" };
  const entry = await entryBrief(env, rec, { ...opts, read: true });
  let r: unknown;
  try {
    r = await agentStub(env, swarmId, entry.agentId).proposalList();
  } catch (err) {
    throw agentError(err, entry.agentId);
  }
  return { proposals: unwrap(r as unknown[] | Refusal, entry.agentId), via: entry.agentId };
}
