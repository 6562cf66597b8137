"""Plans and their limits: the one table every limit check goes through.

Numbers come from the product documentation (spec pages 02, 10, 11, 12, 14, 15/23, 18, 21, 22).
``None`` means unlimited. ENTERPRISE (the name the messaging page uses) is the ORGANIZATION plan.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.models import Membership, Organization
from app.statements import Param, Statement

PLANS = ("FREE", "PRO", "BUSINESS", "ORGANIZATION")
PLAN_ALIASES = {"ENTERPRISE": "ORGANIZATION"}
PLAN_LABELS = {"FREE": "Free", "PRO": "Pro", "BUSINESS": "Business", "ORGANIZATION": "Organization"}


@dataclass(frozen=True)
class Limits:
    api_keys: int | None              # spec 14: Free 2, Pro+ unlimited
    api_v1_access: bool               # spec 23 / README: Pro or higher
    webhooks: int | None              # spec 14: Free 2 total (manual + Zapier)
    routing_forms: int | None         # spec 02
    routing_form_fields: int          # spec 02
    routing_form_rules: int           # spec 02
    active_workflows: int | None      # spec 12
    workflow_actions: int             # spec 12
    sms_actions: bool                 # spec 12: Pro and above
    voice_agents: int | None          # spec 10
    voice_minutes: int | None         # spec 10 (monthly)
    voice_phone_number: bool          # spec 10
    messaging_numbers: int            # spec 11
    messaging_agents_per_channel: int  # spec 11
    monthly_messages: int | None      # spec 11
    audit_retention_days: int         # spec 21
    audit_full_ip: bool               # spec 21
    analytics_days: int               # spec 22
    crm_integrations: bool            # spec 03-05: Pro or higher
    custom_domains: bool              # spec 18: Organization only
    scim: bool                        # spec 23: Business
    hide_branding: bool               # spec 17: badge hidden on Pro and above


LIMITS: dict[str, Limits] = {
    "FREE": Limits(api_keys=2, api_v1_access=False, webhooks=2, routing_forms=1, routing_form_fields=10,
                   routing_form_rules=10, active_workflows=3, workflow_actions=5, sms_actions=False, voice_agents=1,
                   voice_minutes=5, voice_phone_number=False, messaging_numbers=0, messaging_agents_per_channel=0,
                   monthly_messages=0, audit_retention_days=7, audit_full_ip=False, analytics_days=30,
                   crm_integrations=False, custom_domains=False, scim=False, hide_branding=False),
    "PRO": Limits(api_keys=None, api_v1_access=True, webhooks=None, routing_forms=5, routing_form_fields=10,
                  routing_form_rules=10, active_workflows=10, workflow_actions=5, sms_actions=True, voice_agents=2,
                  voice_minutes=60, voice_phone_number=True, messaging_numbers=1, messaging_agents_per_channel=2,
                  monthly_messages=100, audit_retention_days=90, audit_full_ip=False, analytics_days=90,
                  crm_integrations=True, custom_domains=False, scim=False, hide_branding=True),
    "BUSINESS": Limits(api_keys=None, api_v1_access=True, webhooks=None, routing_forms=None, routing_form_fields=10,
                       routing_form_rules=10, active_workflows=None, workflow_actions=5, sms_actions=True,
                       voice_agents=20, voice_minutes=None, voice_phone_number=True, messaging_numbers=5,
                       messaging_agents_per_channel=10, monthly_messages=500, audit_retention_days=365,
                       audit_full_ip=True, analytics_days=365, crm_integrations=True, custom_domains=False,
                       scim=True, hide_branding=True),
    "ORGANIZATION": Limits(api_keys=None, api_v1_access=True, webhooks=None, routing_forms=None,
                           routing_form_fields=10, routing_form_rules=10, active_workflows=None, workflow_actions=5,
                           sms_actions=True, voice_agents=20, voice_minutes=None, voice_phone_number=True,
                           messaging_numbers=20, messaging_agents_per_channel=50, monthly_messages=None,
                           audit_retention_days=365, audit_full_ip=True, analytics_days=365, crm_integrations=True,
                           custom_domains=True, scim=True, hide_branding=True),
}


# Called with the user after an administrator changed their plan (e.g. workflows pause what a lower plan no
# longer allows); services register here, so plans imports none of them.
PLAN_CHANGED: list = []


class UnknownPlan(ValueError):
    pass


class PlanLimitReached(Exception):
    """An action would exceed the account's plan; the message says which limit."""


def normalize_plan(name: str) -> str:
    plan = PLAN_ALIASES.get(name.strip().upper(), name.strip().upper())
    if plan not in LIMITS:
        raise UnknownPlan(f"unknown plan {name!r}; choose one of {', '.join(PLANS)}")
    return plan


_ORG_PLANS = Statement(lambda: Organization.select(Organization.plan).join(Membership)
                       .where(Membership.user == Param("user")).tuples())


def effective_plan(user) -> str:
    """The plan whose limits apply to ``user``: their own, or the highest of their organizations' when higher
    (spec ``effectivePlan``: a member of an organization on the Organization plan has that plan's limits)."""
    own = normalize_plan(user.plan)
    if own == PLANS[-1] or getattr(user, "id", None) is None:
        return own
    plans = [own] + [normalize_plan(plan) for (plan,) in _ORG_PLANS.rows(user=user.id)]
    return max(plans, key=PLANS.index)


def limits_for(user) -> Limits:
    return LIMITS[effective_plan(user)]


def check_count(user, limit_name: str, current: int, what: str) -> None:
    """Raise PlanLimitReached when one more item would exceed ``limit_name``."""
    limit = getattr(limits_for(user), limit_name)
    if limit is not None and current >= limit:
        raise PlanLimitReached(
            f"Your {PLAN_LABELS[effective_plan(user)]} plan allows {limit} {what}. "
            "Delete one or ask your administrator for a higher plan.")


def check_feature(user, limit_name: str, what: str) -> None:
    """Raise PlanLimitReached when the account's plan lacks the feature ``limit_name`` (a yes/no limit)."""
    if not getattr(limits_for(user), limit_name):
        raise PlanLimitReached(
            f"Your {PLAN_LABELS[effective_plan(user)]} plan does not include {what}. "
            "Ask your administrator for a higher plan.")
