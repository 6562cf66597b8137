"""The OpenAPI 3.1 document of the JSON API: ``/api/v1`` (spec page 23), the public booking endpoint and
the Zapier endpoints. Served at ``/api/v1/openapi.json`` and rendered for people at ``/docs/api``.

Built from small helpers: schemas for fields, responses and operations. The schemas describe exactly what
``app/api/v1.py``, ``app/api/public.py`` and ``app/api/zapier.py`` answer: the suite checks live responses
against them (tests/api/test_schemathesis.py), so a change to a view and to its description go together.
"""
from __future__ import annotations

import json
from functools import lru_cache

from app.api.messages import INVALID_KEY, PLAN_REQUIRED
from app.api.openapi_schemas import (
    DOC_VERSION,
    EXAMPLE_ID,
    OPENAPI_VERSION,
    array,
    components,
    integer,
    ref,
    string,
)
from app.api.v1_input import DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE
from app.services.events import API_VERSION, EVENT_NAMES


# --- responses and parameters ------------------------------------------------------------------------
def json_response(description: str, schema: dict, headers: dict | None = None, example=None) -> dict:
    media = {"schema": schema}
    if example is not None:
        media["example"] = example
    response = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "integer", "minimum": 1}}}
STANDARD_ERRORS = {
    "400": lambda: json_response("Invalid parameters or body: `details` names each field.", ref("ValidationError")),
    "401": lambda: json_response("Missing, malformed, unknown or deleted API key.", ref("Error"), headers={
        "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
        example={"error": INVALID_KEY}),
    "403": lambda: json_response("The account is on the Free plan: the REST API requires Pro or higher.",
                                 ref("Error"), example={"error": PLAN_REQUIRED}),
    "409": lambda: json_response("Conflict, e.g. a contact with this email already exists.", ref("Error"),
                                 example={"error": "A contact with this email already exists."}),
    "429": lambda: json_response("Rate limit exceeded (60 requests a minute per key; after 5 failed "
                                 "authentications a minute, every request from the address).", ref("Error"),
                                 headers=RETRY_AFTER,
                                 example={"error": "Too many requests. Please wait and try again."}),
    "500": lambda: json_response("Unexpected server error.", ref("Error"), example={
        "error": "Something went wrong on our side. Nothing you saved was lost; please try again."}),
}
NO_SHOW_NOT_STARTED = "The meeting has not started yet: mark a no-show once its start time has passed."
SLOT_TAKEN = {"error": "This time is no longer available. Please choose another time."}


def errors(*codes: str, not_found: str | None = None) -> dict:
    responses = {code: STANDARD_ERRORS[code]() for code in codes}
    if not_found:
        responses["404"] = json_response("Not found, or not yours.", ref("Error"), example={"error": not_found})
    return responses


def query(name: str, schema: dict, description: str, *, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "example": EXAMPLE_ID}}


def header(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


PAGING = [query("page", integer(minimum=1, maximum=MAX_PAGE, default=1), "Page number, from 1."),
          query("limit", integer(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
                "Items per page, at most 100.")]
IDEMPOTENCY_KEY = header("Idempotency-Key", {"type": "string", "maxLength": 200},
                         "Repeating a request with the same key and the same body returns the first booking (200) "
                         "instead of booking again; the same key with another body is a 422. On the public "
                         "endpoint a key belongs to its sender: another client's identical key is another key.")
IDEMPOTENCY_REUSED = {
    "error": "Invalid request data",
    "details": {"Idempotency-Key": "Already used with a different request: use a new key for a new booking."}}


def operation(operation_id: str, tag: str, summary: str, description: str, *, responses: dict,
              params: list | None = None, body: dict | None = None, body_required: bool = True,
              public: bool = False, auth_errors: bool = True) -> dict:
    op = {"operationId": operation_id, "tags": [tag], "summary": summary, "description": description,
          "responses": {**responses, **(errors("401", "403", "429", "500") if auth_errors and not public else {})}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = []
    return op


# --- paths -------------------------------------------------------------------------------------------
def _user_paths() -> dict:
    return {"/api/v1/me": {"get": operation(
        "getMe", "User", "Current user", "The authenticated user's profile.",
        responses={"200": json_response("The user.", ref("User"))})}}


PAID_NOTE = ("A priced event type's booking is held (status `PENDING_PAYMENT`, the slot taken) and the answer "
             "carries the `checkoutUrl` where the invitee pays with `paymentProvider` (one of the event type's "
             "`paymentProviders`, default the first; another is a 400). Only the provider's signed webhook confirms "
             "it; when the payment window runs out the hold is released. If the provider cannot be reached, nothing "
             "is held or charged and the answer is a 409.")


def _booking_paths() -> dict:
    booking_id = path_param("bookingId", "The booking's id.")
    return {
        "/api/v1/bookings": {
            "get": operation(
                "listBookings", "Bookings", "List bookings",
                "Your bookings, latest start first: those you host, and the team bookings you attend as one of "
                "their hosts (`host` is then the organizer). `from`/`to` filter on the start: a date "
                "(`2026-03-01`, UTC) includes that whole day; a date-time is an exact bound.",
                params=[*PAGING,
                        query("status", string(enum=["CONFIRMED", "PENDING_PAYMENT", "PENDING", "CANCELLED", "all"],
                                               default="all"),
                              "Only bookings with this status (PENDING_PAYMENT: held while the invitee pays; "
                              "PENDING: a request waiting for the host's confirmation)."),
                        query("from", string(example="2026-03-01"), "Earliest start: ISO date or date-time."),
                        query("to", string(example="2026-03-31"), "Latest start: ISO date or date-time.")],
                responses={"200": json_response("One page of bookings.", ref("BookingList")), **errors("400")}),
            "post": operation(
                "createBooking", "Bookings", "Create a booking",
                "Books a slot of one of your event types, chosen by slug, or by `eventTypeId` (the way to book a "
                "team event type of one of your teams: its hosts are chosen as on its team page). Checks the "
                "slot is available and "
                "fires every side effect (emails, calendars, webhooks) as a booking page would. An identical "
                "repeat (same event type, start and email, or the same `Idempotency-Key`) answers 200 with "
                "the first booking. " + PAID_NOTE,
                params=[IDEMPOTENCY_KEY], body=ref("CreateBookingRequest"),
                responses={"201": json_response("Booked (a priced event type: held, with its `checkoutUrl`).",
                                                ref("CreateBookingResponse")),
                           "200": json_response("An identical earlier request's booking.",
                                                ref("CreateBookingResponse")),
                           **errors("400", not_found="Event type not found"),
                           "409": json_response("The time is not available, or the payment could not be started.",
                                                ref("Error"), example=SLOT_TAKEN),
                           "422": json_response("The Idempotency-Key was already used with another body.",
                                                ref("ValidationError"), example=IDEMPOTENCY_REUSED)}),
        },
        "/api/v1/bookings/{bookingId}": {"get": operation(
            "getBooking", "Bookings", "Get a booking",
            "Full detail: the event type, the contact and the booking's history (emails sent, changes). A team "
            "booking you attend can be read too (cancelling and rescheduling stay with its organizer).",
            params=[booking_id],
            responses={"200": json_response("The booking.", ref("BookingDetail")),
                       **errors(not_found="Booking not found")})},
        "/api/v1/bookings/{bookingId}/cancel": {"post": operation(
            "cancelBooking", "Bookings", "Cancel a booking",
            "Cancels the booking and fires every side effect (calendars, emails, webhooks). Cancelling a "
            "cancelled booking changes nothing and succeeds.",
            params=[booking_id], body=ref("CancelRequest"), body_required=False,
            responses={"200": json_response("Cancelled.", ref("Success")),
                       **errors("400", not_found="Booking not found")})},
        "/api/v1/bookings/{bookingId}/no-show": {"post": operation(
            "markBookingNoShow", "Bookings", "Mark the invitee as a no-show (or undo it)",
            "After the meeting's start, the booking's organizer marks its invitee as a no-show (`noShow: true`) or "
            "removes the mark (`noShow: false`). A change is audited and sends the `booking.no_show` webhook with "
            "the booking (its `noShow` says which); setting what is already set changes nothing and succeeds. "
            "Before the start, or for a cancelled or unpaid booking, the answer is 409. A team booking you only "
            "attend is the organizer's to mark (404). With `guest` (an email address of one of the booking's "
            "`guests`), that guest is marked instead and the webhook's `guest` names them; an address that is not "
            "a guest of the booking is a 400.",
            params=[booking_id], body=ref("NoShowRequest"),
            responses={"200": json_response("The booking, with `noShow` and `noShowMarkedAt`.", ref("Booking")),
                       **errors("400", not_found="Booking not found"),
                       "409": json_response("The meeting has not started yet, or the booking is not confirmed.",
                                            ref("Error"), example={"error": NO_SHOW_NOT_STARTED})})},
        "/api/v1/bookings/{bookingId}/reschedule": {"post": operation(
            "rescheduleBooking", "Bookings", "Reschedule a booking",
            "Moves the booking (same id, same length) to a new available start and sends the reschedule "
            "emails. A cancelled booking cannot be moved (400).",
            params=[booking_id], body=ref("RescheduleRequest"),
            responses={"200": json_response("Rescheduled.", ref("Success")),
                       **errors("400", not_found="Booking not found"),
                       "409": json_response("The new time is not available.", ref("Error"), example=SLOT_TAKEN)})},
    }


def _contact_paths() -> dict:
    contact_id = path_param("contactId", "The contact's id.")
    return {
        "/api/v1/contacts": {
            "get": operation(
                "listContacts", "Contacts", "List and search contacts",
                "Your contacts by name, each with its number of confirmed meetings.",
                params=[query("search", string(maxLength=200), "Part of the name, email or company."), *PAGING],
                responses={"200": json_response("One page of contacts.", ref("ContactList")), **errors("400")}),
            "post": operation(
                "createContact", "Contacts", "Create a contact",
                "Adds a contact and fires the `contact.created` webhook. Emails are unique per account "
                "(case-insensitive).",
                body=ref("ContactCreateRequest"),
                responses={"201": json_response("The new contact.", ref("Contact")), **errors("400", "409")}),
        },
        "/api/v1/contacts/{contactId}": {
            "get": operation(
                "getContact", "Contacts", "Get a contact",
                "The contact with its upcoming and past confirmed meetings (up to 100 each) and their count.",
                params=[contact_id],
                responses={"200": json_response("The contact.", ref("ContactDetail")),
                           **errors(not_found="Contact not found")}),
            "patch": operation(
                "updateContact", "Contacts", "Update a contact",
                "Changes only the fields sent. The email must stay unique (409).",
                params=[contact_id], body=ref("ContactUpdateRequest"),
                responses={"200": json_response("The updated contact.", ref("Contact")),
                           **errors("400", "409", not_found="Contact not found")}),
            "delete": operation(
                "deleteContact", "Contacts", "Delete a contact",
                "Deletes the contact for good. Its bookings are kept.",
                params=[contact_id],
                responses={"200": json_response("Deleted.", ref("Success")),
                           **errors(not_found="Contact not found")}),
        },
    }


def _event_type_paths() -> dict:
    return {
        "/api/v1/event-types": {"get": operation(
            "listEventTypes", "Event Types", "List active event types",
            "Your active event types in their dashboard order, then the active team event types of your teams "
            "(each with `team`, `schedulingType` and `hosts`).", params=PAGING,
            responses={"200": json_response("One page of event types.", ref("EventTypeList")), **errors("400")})},
        "/api/v1/event-types/{eventTypeId}": {"get": operation(
            "getEventType", "Event Types", "Get an event type",
            "Full detail including the scheduling configuration (drafts too): one of yours, or a team event "
            "type of one of your teams (another organization's is a 404).",
            params=[path_param("eventTypeId", "The event type's id.")],
            responses={"200": json_response("The event type.", ref("EventType")),
                       **errors(not_found="Event type not found")})},
        "/api/v1/availability/{slug}": {"get": operation(
            "getAvailability", "Availability", "Available slots",
            "Bookable starts of an active event type, after working hours, buffers, existing bookings, notice "
            "and daily limits. Dates are local to `timezone`; `endDate` is included and may be at most 31 days "
            "after `startDate`.",
            params=[{"name": "slug", "in": "path", "required": True,
                     "description": "The event type's slug, or the id of a team event type of one of your teams.",
                     "schema": {"type": "string", "example": "30-min"}},
                    query("timezone", string(example="America/New_York"), "IANA time zone of the answer.",
                          required=True),
                    query("startDate", string(example="2026-03-01"),
                          "First date (ISO date or date-time). Default: today in `timezone`."),
                    query("endDate", string(example="2026-03-08"),
                          "Last date, included (ISO date or date-time). Default: 7 days after `startDate`.")],
            responses={"200": json_response("The slots.", ref("Availability")),
                       **errors("400", not_found="Event type not found")})},
        "/api/v1/single-use-links": {"post": operation(
            "createSingleUseLink", "Event Types", "Create a single-use link",
            "A link (`/d/<token>`) that books one of your personal event types exactly once (secret ones too), "
            "optionally until `expiresAt`; then it says it was used or has expired. A cancelled booking does not "
            "make it usable again. A draft or priced event type is a 400.",
            body=ref("SingleUseLinkRequest"),
            responses={"201": json_response("The link.", ref("SingleUseLink")),
                       **errors("400", not_found="Event type not found")})},
    }


def _call_paths() -> dict:
    return {"/api/v1/calls": {"get": operation(
        "listCalls", "Calls", "List voice calls",
        "Your voice agents' calls, newest first: inbound, outbound (workflows' AI Voice Call) and web widget, with "
        "the agent's name, duration and outcome. `from`/`to` filter on the start: a date (`2026-03-01`, UTC) "
        "includes that whole day; a date-time is an exact bound.",
        params=[query("page", integer(minimum=1, maximum=MAX_PAGE, default=1), "Page number, from 1."),
                query("limit", integer(minimum=1, maximum=50, default=DEFAULT_LIMIT), "Items per page, at most 50."),
                query("status", string(enum=["COMPLETED", "FAILED", "NO_ANSWER", "all"], default="all"),
                      "Only calls with this status."),
                query("from", string(example="2026-03-01"), "Earliest start: ISO date or date-time."),
                query("to", string(example="2026-03-31"), "Latest start: ISO date or date-time.")],
        responses={"200": json_response("One page of calls.", ref("CallList")), **errors("400")})}}


def _conversation_paths() -> dict:
    return {"/api/v1/conversations": {"get": operation(
        "listConversations", "Conversations", "List SMS and WhatsApp conversations",
        "Your messaging agents' threads, the latest message first, each with its most recent messages (at most 50, "
        "in time order). Messages older than the retention period (90 days unless configured) are deleted and no "
        "longer listed. `phone` is the customer's number in E.164 (other ways of writing a valid number are "
        "normalised). `from`/`to` filter on the last message: a date (`2026-03-01`, UTC) includes that whole day; "
        "a date-time is an exact bound.",
        params=[query("phone", string(example="+14155551234"), "Only conversations with this number (E.164)."),
                query("from", string(example="2026-03-01"), "Earliest last message: ISO date or date-time."),
                query("to", string(example="2026-03-31"), "Latest last message: ISO date or date-time."),
                query("limit", integer(minimum=1, maximum=50, default=DEFAULT_LIMIT), "Items per page, at most 50."),
                query("page", integer(minimum=1, maximum=MAX_PAGE, default=1), "Page number, from 1.")],
        responses={"200": json_response("One page of conversations.", ref("ConversationList")),
                   **errors("400")})}}


def _out_of_office_paths() -> dict:
    return {
        "/api/v1/out-of-office": {
            "get": operation(
                "listOutOfOffice", "Out of Office", "List out-of-office entries",
                "Your out-of-office entries not over yet (with `includePast=true`: all of them), first day first.",
                params=[query("includePast", string(enum=["true", "false"], default="false"),
                              "Also the entries whose last day has passed.")],
                responses={"200": json_response("The entries.", ref("OutOfOfficeList")), **errors("400")}),
            "post": operation(
                "createOutOfOffice", "Out of Office", "Add out-of-office days",
                "Whole days (the last one included) in your profile's time zone when you send it: none of your "
                "event types can be booked then, round robin passes you over and your booking pages say when you "
                "are back. Dates overlapping another of your entries, a last day in the past or a "
                "`redirectToUserId` who is not a member of one of your teams are a 400.",
                body=ref("OutOfOfficeRequest"),
                responses={"201": json_response("Added.", ref("OutOfOffice")), **errors("400")}),
        },
        "/api/v1/out-of-office/{entryId}": {"delete": operation(
            "deleteOutOfOffice", "Out of Office", "Delete an out-of-office entry",
            "The days become bookable again (as your hours allow).",
            params=[path_param("entryId", "The entry's id.")],
            responses={"200": json_response("Deleted.", ref("Success")),
                       **errors(not_found="Out-of-office entry not found")})},
    }


def _public_paths() -> dict:
    return {"/api/bookings": {"post": operation(
        "createPublicBooking", "Public", "Book a slot (no API key)",
        "The endpoint the booking page and the embed use: books an available slot of an active event type "
        "by its id (a team event type too: its hosts are chosen as on the team page). At most 10 requests a "
        "minute per IP address. An identical repeat (same event type, start and email, or the same "
        "`Idempotency-Key`) answers 200 with the first booking. " + PAID_NOTE,
        params=[IDEMPOTENCY_KEY], body=ref("PublicBookingRequest"), public=True,
        responses={"201": json_response("Booked (a priced event type: held, with its `checkoutUrl`).",
                                        ref("PublicBookingResponse")),
                   "200": json_response("An identical earlier request's booking.", ref("PublicBookingResponse")),
                   **errors("400", "500", not_found="Event type not found"),
                   "409": json_response("The time is not available, or the payment could not be started.",
                                        ref("SlotConflict"), example=SLOT_TAKEN),
                   "422": json_response("The Idempotency-Key was already used with another body.",
                                        ref("ValidationError"), example=IDEMPOTENCY_REUSED),
                   "429": json_response("More than 10 requests a minute from this address.", ref("Error"),
                                        headers=RETRY_AFTER)})}}


# --- Zapier ------------------------------------------------------------------------------------------
ZAPIER_SECURITY = [{"zapierApiKey": []}]


def _zapier_operation(operation_id: str, summary: str, description: str, responses: dict, **kwargs) -> dict:
    op = operation(operation_id, "Zapier", summary, description, auth_errors=False, responses={
        **responses,
        "401": json_response("Missing or invalid `X-API-Key`.", ref("Error")),
        "429": json_response("Too many requests with this key, or too many failed authentications from this "
                             "address.", ref("Error"), headers=RETRY_AFTER),
        "500": STANDARD_ERRORS["500"](),
    }, **kwargs)
    op["security"] = ZAPIER_SECURITY
    return op


def _zapier_paths() -> dict:
    unsubscribed = json_response("Unsubscribed.", ref("ZapierUnsubscribed"))
    return {
        "/api/zapier/me": {"get": _zapier_operation(
            "zapierMe", "Test the connection", "Zapier's authentication test. Every plan may use it.",
            {"200": json_response("The account.", ref("ZapierUser"))})},
        "/api/zapier/subscribe": {"post": _zapier_operation(
            "zapierSubscribe", "Subscribe a REST hook",
            "Creates a webhook labelled Zapier for one event. It counts against the plan's webhook limit.",
            {"201": json_response("Subscribed.", ref("ZapierSubscription")), **errors("400"),
             "403": json_response("The plan's webhook limit is reached.", ref("Error"))},
            body=ref("ZapierSubscribeRequest"))},
        "/api/zapier/subscribe/{subscriptionId}": {"delete": _zapier_operation(
            "zapierUnsubscribe", "Unsubscribe a REST hook", "Deletes a Zapier subscription.",
            {"200": unsubscribed, **errors(not_found="Subscription not found")},
            params=[path_param("subscriptionId", "The id subscribe returned.")])},
        "/api/zapier/unsubscribe": {"post": _zapier_operation(
            "zapierUnsubscribeByBody", "Unsubscribe a REST hook (id in the body)", "Deletes a Zapier subscription.",
            {"200": unsubscribed, **errors("400", not_found="Subscription not found")},
            body=ref("ZapierUnsubscribeRequest"))},
        "/api/zapier/triggers/{event}": {"get": _zapier_operation(
            "zapierPerformList", "Recent events of a trigger",
            "The newest real payloads of the event (up to 3, newest first), or one sample when there is none.",
            {"200": json_response("Envelopes.", array(ref("WebhookEnvelope"))),
             "404": json_response("Unknown trigger.", ref("Error"))},
            params=[{"name": "event", "in": "path", "required": True, "description": "The trigger.",
                     "schema": {"type": "string", "enum": list(EVENT_NAMES)}},
                    query("eventTypeId", string(), "Booking triggers: only this event type's events.")])},
        "/api/zapier/event-types": {"get": _zapier_operation(
            "zapierEventTypes", "Event types for the filter", "Every event type of the account.",
            {"200": json_response("Event types.", array(ref("ZapierEventType")))})},
    }


# --- the document ------------------------------------------------------------------------------------
TAGS = [
    {"name": "User", "description": "The account the API key belongs to."},
    {"name": "Bookings", "description": "List, read, create, cancel and reschedule bookings; mark no-shows."},
    {"name": "Contacts", "description": "The people who booked with you, and ones you added."},
    {"name": "Event Types", "description": "What invitees can book."},
    {"name": "Availability", "description": "Bookable time slots."},
    {"name": "Calls", "description": "Your voice agents' call logs."},
    {"name": "Conversations", "description": "Your messaging agents' SMS and WhatsApp threads."},
    {"name": "Out of Office", "description": "Days you are away: not bookable, with a teammate to send invitees to."},
    {"name": "Public", "description": "No API key: the booking page's own endpoint."},
    {"name": "Zapier", "description": "REST hooks and samples for the Zapier app."},
]
DESCRIPTION = (
    "The LinkTime REST API: bookings, contacts, event types, availability, conversations and voice calls.\n\n"
    "**Authentication**: send an API key from Settings → API Keys as `Authorization: Bearer lt_live_...`. "
    "The `/api/v1` endpoints require a Pro plan or higher (a Free account gets 403).\n\n"
    "**Errors** are `{\"error\": \"message\"}`; invalid input is 400 `{\"error\": \"Invalid request data\", "
    "\"details\": {\"field\": \"message\"}}`; another account's object is 404.\n\n"
    "**Rate limits**: 60 requests a minute per API key; 5 failed authentications a minute per IP address, "
    "after which every request from it is refused until the minute has passed; the public booking endpoint "
    "10 a minute per IP. A 429 carries `Retry-After`.\n\n"
    "**Pagination**: list endpoints take `page` (from 1) and `limit` (default 20, at most 100; 50 for calls and "
    "conversations) and answer `{\"data\": [...], \"pagination\": {\"page\", \"limit\", \"total\", "
    "\"totalPages\"}}`.\n\n"
    f"**Webhooks** (configured in the dashboard) send `{', '.join(EVENT_NAMES)}` with `apiVersion` "
    f"{API_VERSION}."
)


@lru_cache(maxsize=8)
def _document_json(base_url: str) -> str:
    doc = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "LinkTime API", "version": DOC_VERSION, "description": DESCRIPTION},
        "servers": [{"url": base_url or "/"}],
        "security": [{"bearerAuth": []}],
        "tags": TAGS,
        "paths": {**_user_paths(), **_booking_paths(), **_contact_paths(), **_event_type_paths(),
                  **_call_paths(), **_conversation_paths(), **_public_paths(), **_zapier_paths(),
                  **_out_of_office_paths()},
        "components": components(),
    }
    return json.dumps(doc)


def document(base_url: str | None = None) -> dict:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    if base_url is None:
        from flask import current_app
        base_url = current_app.config.get("BASE_URL", "")
    return json.loads(_document_json(base_url))
