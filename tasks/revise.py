"""revise: turn the tribunal's findings into follow-up searches and things to drop."""

from __future__ import annotations

from prefect import task

from tasks import prompts
from tasks.common import STAGE_CACHE
from tasks.llm import ChatModel, ask
from tasks.models import Draft, FindingKind, RevisionPlan, TribunalResult
from tasks.progress import STAGE_HOOKS


@task(name="revise", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def revise(draft: Draft, tribunal: TribunalResult, chat: ChatModel | None = None) -> RevisionPlan:
    """Search again for missing aspects, drop unsupported claims and off-topic papers."""
    central = max(draft.plan.queries[1:2] or draft.plan.queries[:1], key=len, default="")
    plan = RevisionPlan()
    for finding in tribunal.findings:
        if finding.kind is FindingKind.MISSING_ASPECT and finding.aspect:
            query = finding.aspect if finding.aspect.lower() in central.lower() else f"{finding.aspect} {central}"
            if query not in plan.queries and query not in draft.plan.queries:
                plan.queries.append(query)
                plan.notes.append(f"searched again for missing aspect '{finding.aspect}'")
        elif finding.kind in (FindingKind.UNSUPPORTED_CLAIM, FindingKind.UNSUPPORTED_NUMBER) and finding.claim_id:
            if finding.claim_id not in plan.drop_claim_ids:
                plan.drop_claim_ids.append(finding.claim_id)
                plan.notes.append(f"dropped unsupported claim {finding.claim_id}")
        elif finding.kind is FindingKind.OFF_TOPIC_SOURCE and finding.paper_id:
            if finding.paper_id not in plan.drop_paper_ids:
                plan.drop_paper_ids.append(finding.paper_id)
                plan.notes.append(f"dropped off-topic paper {finding.paper_id}")
    return plan if chat is None or not plan.queries else model_followups(plan, draft, tribunal, central, chat)


def model_followups(
    plan: RevisionPlan, draft: Draft, tribunal: TribunalResult, central: str, chat: ChatModel
) -> RevisionPlan:
    """The model's follow-up searches for the missing aspects in place of the offline ones (kept if it has none)."""
    missing = list(
        dict.fromkeys(f.aspect for f in tribunal.findings if f.kind is FindingKind.MISSING_ASPECT and f.aspect)
    )
    messages = prompts.revise_messages(draft.goal, central, missing, draft.plan.queries)
    reply = ask(chat, messages, prompts.RevisionReply, "revise")
    tried = {q.lower() for q in draft.plan.queries}
    queries = list(
        dict.fromkeys(q for q in (" ".join(r.split())[:200] for r in reply.queries) if q and q.lower() not in tried)
    )
    if not queries:
        return plan
    notes = [n for n in plan.notes if not n.startswith("searched again")]
    notes.append(f"searched again for missing aspects ({'; '.join(missing)}) with: {'; '.join(queries)}")
    return plan.model_copy(update={"queries": queries[: len(missing)], "notes": notes})
