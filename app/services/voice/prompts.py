"""What a voice agent says and is told: its greeting (always disclosing that it is an AI assistant, spec page 10
"TCPA compliance"), its system prompt from a template and the host's business context, and the templates a host
starts from (Dashboard → Voice Agents)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    agent_name: str
    description: str
    language: str
    instructions: str


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("scheduling", "Scheduling assistant", "Scheduling Assistant",
             "Answers calls, checks the calendar and books any of your meeting types.", "en",
             "Help the caller find a meeting type and a time that suits them, then book it."),
    Template("sales", "Sales", "Sales Assistant",
             "Qualifies callers briefly (company, need, timeline) and books a discovery call or demo.", "en",
             "Ask briefly about the caller's company, what they need and their timeline, then offer a discovery "
             "call or a demo and book it. Do not quote prices or promise features."),
    Template("support", "Support", "Support Assistant",
             "Listens to the problem, answers simple questions from your business context and books a session.",
             "en",
             "Let the caller describe their problem. Answer only from the business context; when it does not cover "
             "the question, offer a support session with a person and book it."),
    Template("multilingual", "Multilingual", "Asistente de agenda",
             "Answers in the language you choose (Spanish to start with) and books the same meetings.", "es",
             "Speak the agent's language throughout, even when the caller starts in another; switch only if the "
             "caller asks to."),
)}
DEFAULT_TEMPLATE = "scheduling"


def host_first_name(host) -> str:
    name = (host.name or host.username or "").strip()
    return name.split()[0] if name else "the host"


def greeting_for(agent, host) -> str:
    """The agent's first message: the host's own greeting, else one that says it is an AI assistant."""
    if agent.greeting and agent.greeting.strip():
        return agent.greeting.strip()
    if (agent.language or "en").startswith("es"):
        return (f"¡Hola! Soy {agent.name}, el asistente de IA de {host_first_name(host)}. "
                "¿En qué puedo ayudarle hoy?")
    return (f"Hi! I'm {agent.name}, {host_first_name(host)}'s AI scheduling assistant. "
            "How can I help you today?")


def system_prompt(agent) -> str:
    """The prompt given to ElevenLabs: role, the template's instructions, the tools and the business context.
    Dynamic variables ({{host_name}}, {{booking_url}}, ...) are filled per call by the personalization webhook."""
    template = TEMPLATES.get(agent.template) or TEMPLATES[DEFAULT_TEMPLATE]
    lines = [
        f"You are {agent.name}, an AI assistant who schedules meetings with {{{{host_name}}}} by phone. "
        "Say that you are an AI assistant if asked. Be brief: this is a phone call.",
        template.instructions,
        "Use list_event_types to learn the meeting types, get_available_slots to find free times on a date "
        "(in the caller's time zone: ask for it when unsure, the host's is {{host_timezone}}), and create_booking "
        "once the caller has chosen a time and given their name and email (spell the email back). Never invent "
        "times: offer only what get_available_slots returns. Use get_booking_details for a call about an existing "
        "booking ({{booking_id}}).",
        "If a tool answers with an error, say its message to the caller. People may also book online at "
        "{{booking_url}}.",
    ]
    if agent.business_context and agent.business_context.strip():
        lines.append("About the business:\n" + agent.business_context.strip())
    return "\n\n".join(lines)
