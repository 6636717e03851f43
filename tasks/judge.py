"""The verification judge: a chat model's SUPPORTS / REFUTES / NOT_ENOUGH_INFO, combined with the offline checks."""

from __future__ import annotations

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.backends.prompts import JudgeReply
from tasks.index.text import sentence_texts
from tasks.models import Claim, ClaimIssue, IssueKind, Label, Paper
from tasks.settings import VerifySettings


def judge_claim(chat: ChatModel, claim: Claim, paper: Paper) -> JudgeReply:
    """The model's verdict on the claim against its source abstract."""
    sentences = sentence_texts(paper.abstract)
    return ask(chat, prompts.judge_messages(claim.text, paper.title, paper.id, sentences), JudgeReply, "verify_claims")


def combine(claim: Claim, verdict: JudgeReply, settings: VerifySettings) -> Claim:
    """The offline verdict moved by the judge: it may confirm, demote or refute, never excuse a hard issue."""
    verdict_score = settings.judge_verdict_scores[verdict.verdict]
    confidence = round((1 - settings.judge_share) * claim.confidence + settings.judge_share * verdict_score, 4)
    if claim.has_hard_issue or verdict.verdict == "REFUTES" or confidence < settings.weak_threshold:
        label = Label.UNSUPPORTED
    elif (
        verdict.verdict == "SUPPORTS"
        and not claim.issues
        and claim.support >= settings.weak_threshold
        and confidence >= settings.verified_threshold
    ):
        label = Label.VERIFIED
    else:
        label = Label.WEAK
    judged = ClaimIssue(kind=IssueKind.JUDGE, detail=verdict.verdict)
    issues = claim.issues if verdict.verdict == "SUPPORTS" else [*claim.issues, judged]
    return claim.model_copy(
        update={
            "label": label,
            "confidence": confidence,
            "issues": issues,
            "judge": f"{verdict.verdict}: {' '.join(verdict.reason.split())}",
        }
    )


def judge_claims(
    claims: list[Claim], papers: dict[str, Paper], chat: ChatModel, settings: VerifySettings
) -> list[Claim]:
    """Every claim whose source was retrieved, judged and combined; the others keep their offline label."""
    judged = []
    for claim in claims:
        paper = papers.get(claim.paper_id)
        judged.append(combine(claim, judge_claim(chat, claim, paper), settings) if paper else claim)
    return judged
