"""Event types, schedules, the slot engine and the meeting locations an event type can offer."""
