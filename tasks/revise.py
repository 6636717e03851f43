"""revise: turn the tribunal's findings into follow-up searches and things to drop."""

from __future__ import annotations

from prefect import task

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.common import STAGE_CACHE
from tasks.models import Draft, FindingKind, RevisionPlan, TribunalResult
from tasks.plan import search_key
from tasks.progress import STAGE_HOOKS


def followup_query(aspect: str, central: str, tried: set[frozenset[str]]) -> str | None:
    """A search for an aspect that no query so far has run (in any word order): with the central entity, then
    alone."""
    candidates = [f"{central} {aspect}", aspect] if aspect.lower() != central.lower() else []
    return next((q for q in candidates if search_key(q) not in tried), None)


@task(name="revise", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def revise(
    draft: Draft, tribunal: TribunalResult, tried: list[str] | None = None, chat: ChatModel | None = None
) -> RevisionPlan:
    """Search again for unaddressed or uncorroborated aspects, drop unsupported claims and off-topic papers."""
    central = draft.plan.central or max(draft.plan.queries[1:2] or draft.plan.queries[:1], key=len, default="")
    before = list(dict.fromkeys([*draft.plan.queries, *(tried or [])]))
    searched = {search_key(q) for q in before}
    plan = RevisionPlan()
    for finding in tribunal.findings:
        if finding.kind in (FindingKind.MISSING_ASPECT, FindingKind.SINGLE_SOURCE) and finding.aspect:
            query = followup_query(finding.aspect, central, searched)
            if query is not None:
                searched.add(search_key(query))
                plan.queries.append(query)
                plan.notes.append(f"searched for '{finding.aspect}' with '{query}'")
        elif finding.kind in (FindingKind.UNSUPPORTED_CLAIM, FindingKind.UNSUPPORTED_NUMBER) and finding.claim_id:
            if finding.claim_id not in plan.drop_claim_ids:
                plan.drop_claim_ids.append(finding.claim_id)
                plan.notes.append(f"dropped unsupported claim {finding.claim_id}")
        elif finding.kind is FindingKind.OFF_TOPIC_SOURCE and finding.paper_id:
            if finding.paper_id not in plan.drop_paper_ids:
                plan.drop_paper_ids.append(finding.paper_id)
                plan.notes.append(f"dropped off-topic paper {finding.paper_id}")
    if chat is None or not plan.queries:
        return plan
    return model_followups(plan, draft, tribunal, central, before, chat)


def model_followups(
    plan: RevisionPlan, draft: Draft, tribunal: TribunalResult, central: str, tried: list[str], chat: ChatModel
) -> RevisionPlan:
    """The model's follow-up searches for the missing aspects in place of the offline ones (kept if it has none)."""
    wanted = (FindingKind.MISSING_ASPECT, FindingKind.SINGLE_SOURCE)
    missing = list(dict.fromkeys(f.aspect for f in tribunal.findings if f.kind in wanted and f.aspect))
    messages = prompts.revise_messages(draft.goal, central, missing, tried)
    reply = ask(chat, messages, prompts.RevisionReply, "revise")
    searched = {search_key(q) for q in tried}
    queries = list(
        dict.fromkeys(
            q for q in (" ".join(r.split())[:200] for r in reply.queries) if q and search_key(q) not in searched
        )
    )
    if not queries:
        return plan
    notes = [n for n in plan.notes if not n.startswith("searched for")]
    notes.append(f"searched again for missing aspects ({'; '.join(missing)}) with: {'; '.join(queries)}")
    return plan.model_copy(update={"queries": queries[: len(missing)], "notes": notes})
