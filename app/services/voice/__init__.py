"""Voice agents (issue 21, spec page 10): settings, phone numbers, agents and provisioning, the ElevenLabs
webhooks (tools, personalization, call status), minutes, outbound calls and call logs."""
