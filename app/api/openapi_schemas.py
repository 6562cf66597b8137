"""Schemas of the OpenAPI document (``app/api/openapi.py``): helpers for fields and objects, and the component
schemas of every payload the JSON API answers with."""
from __future__ import annotations

from app.services.events import API_VERSION, EVENT_NAMES

OPENAPI_VERSION = "3.1.0"
DOC_VERSION = "1.0.0"
EXAMPLE_ID = "clx1abc2def3ghi4jkl5mno6p"
EXAMPLE_INSTANT = "2026-03-01T14:00:00.000Z"


# --- schema helpers ----------------------------------------------------------------------------------
def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str | None = None, *, example=None, nullable: bool = False, **extra) -> dict:
    schema: dict = {"type": ["string", "null"] if nullable else "string", **extra}
    if description:
        schema["description"] = description
    if example is not None:
        schema["example"] = example
    return schema


def instant(description: str | None = None, *, nullable: bool = False) -> dict:
    return string(description or "ISO 8601 instant in UTC.", nullable=nullable, format="date-time",
                  example=EXAMPLE_INSTANT)


def day(description: str, *, nullable: bool = False) -> dict:
    return string(description, nullable=nullable, format="date", example="2026-03-01")


def integer(description: str | None = None, *, example=None, nullable: bool = False, **extra) -> dict:
    return string(description, example=example, nullable=nullable, **extra) | {
        "type": ["integer", "null"] if nullable else "integer"}


def boolean(description: str | None = None, **extra) -> dict:
    schema = {"type": "boolean", **extra}
    if description:
        schema["description"] = description
    return schema


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: dict, description: str | None = None) -> dict:
    schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


def obj(properties: dict, required: tuple[str, ...] | list[str] | str = "all", description: str | None = None,
        **extra) -> dict:
    """An object; ``required="all"`` requires every listed property."""
    schema = {"type": "object", "properties": properties,
              "required": list(properties) if required == "all" else list(required), **extra}
    if description:
        schema["description"] = description
    return schema


def an_id(what: str) -> dict:
    return string(f"The {what}'s id.", example=EXAMPLE_ID)


# --- components --------------------------------------------------------------------------------------
PLANS = ["FREE", "PRO", "BUSINESS", "ORGANIZATION"]
BOOKING_STATUSES = ["CONFIRMED", "PENDING_PAYMENT", "PENDING", "CANCELLED"]
STATUS_NOTE = ("PENDING_PAYMENT: a booking of a priced event type held while the invitee pays; the provider's signed "
               "webhook confirms it, or it is cancelled when the payment window runs out. PENDING: a request of an "
               "event type that requires confirmation (the slot is held); the host confirms it (CONFIRMED, "
               "`booking.created`) or declines it, or it expires unanswered at its start (CANCELLED, "
               "`booking.cancelled`).")
PAYMENT_PROVIDERS = ["stripe", "paypal"]
PAYMENT_STATUSES = ["pending", "paid", "refunded", "partially_refunded", "expired", "failed"]


def _error_schemas() -> dict:
    return {
        "Error": obj({"error": string("What went wrong.", example="Booking not found")}),
        "ValidationError": obj({
            "error": string("Always `Invalid request data`.", example="Invalid request data"),
            "details": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Field name to message.", "example": {"email": "Enter a valid email address."}},
        }),
        "SlotConflict": obj({
            "error": string("Why the time cannot be booked.",
                            example="This time is no longer available. Please choose another time."),
            "conflicts": array(string(), "For a recurring series: the occurrences that are taken."),
        }, required=("error",)),
        "Pagination": obj({"page": integer(example=1, minimum=1), "limit": integer(example=20, minimum=1),
                           "total": integer(example=156, minimum=0), "totalPages": integer(example=8, minimum=0)}),
        "Success": obj({"success": boolean(const=True)}),
    }


def _user_schema() -> dict:
    return obj({"id": an_id("user"), "email": string(format="email", example="jane@example.com"),
                "name": string(example="Jane Host"), "username": string(example="jane"),
                "plan": string("The account's own plan.", example="PRO"),
                "effectivePlan": string("The plan whose limits apply.", enum=PLANS, example="PRO"),
                "timezone": string(example="America/New_York"), "createdAt": instant()})


def _booking_properties() -> dict:
    invitee = obj({"name": string(example="Sarah Chen"), "email": string(example="sarah@example.com"),
                   "timezone": string(example="America/New_York")})
    return {
        "id": an_id("booking"),
        "startTime": instant("Start, ISO 8601 UTC."),
        "endTime": instant("End, ISO 8601 UTC."),
        "status": string(STATUS_NOTE, enum=BOOKING_STATUSES, example="CONFIRMED"),
        "invitee": invitee,
        "inviteeName": string(example="Sarah Chen"),
        "inviteeEmail": string(example="sarah@example.com"),
        "inviteeTimezone": string(example="America/New_York"),
        "inviteePhone": string(nullable=True),
        "host": obj({"id": an_id("host"), "name": string(), "email": string()}),
        "meetingLink": string("Video meeting link, once created.", nullable=True),
        "location": string("Where the meeting happens, as shown to the invitee.", nullable=True),
        "notes": string(nullable=True),
        "answers": {"type": "object", "description": "Answers to the event type's questions, by question id."},
        "isRecurring": boolean(),
        "recurringGroupId": string(nullable=True),
        "contactId": string(nullable=True),
        "source": string("Where the booking came from: page, api, public-api, ...", example="api"),
        "cancelReason": string("Present on cancelled bookings.", nullable=True),
        "cancelledAt": instant(nullable=True),
        "previousStartTime": instant("Present once rescheduled.", nullable=True),
        "previousEndTime": instant("Present once rescheduled.", nullable=True),
        "noShow": boolean("The host marked the invitee as a no-show (after the meeting's start; "
                          "`POST /api/v1/bookings/{bookingId}/no-show`).", example=False),
        "noShowMarkedAt": instant("When the invitee was marked as a no-show; null when not marked.", nullable=True),
        "approval": string("Present on bookings of an event type that requires confirmation: where the request "
                           "stands.", enum=["pending", "confirmed", "declined", "expired"], example="pending"),
        "guests": array(obj({"email": string(format="email", example="lee@example.com"),
                             "noShow": boolean("The host marked this guest as a no-show.", example=False),
                             "noShowMarkedAt": instant(nullable=True)}),
                        "Additional guests the invitee added (issue 23), in the order given; empty when none."),
        "seat": obj({"seatsTotal": integer(nullable=True), "seatsTaken": integer()},
                    description="Present on a seat of a seated event type: the slot's seats and how many are taken."),
        "createdAt": instant(),
        "updatedAt": instant(),
    }


SCHEDULING_TYPES = ["COLLECTIVE", "ROUND_ROBIN"]
TEAM_NOTE = "Team event types only (issue 15)."


def _team_schema() -> dict:
    return obj({"id": an_id("team"), "name": string(example="Sales"), "slug": string(example="sales")},
               description="The team an event type belongs to.")


def _scheduling_type(what: str) -> dict:
    return string(f"{TEAM_NOTE} COLLECTIVE: every host attends {what}; ROUND_ROBIN: one host is assigned per "
                  "booking (plus any fixed hosts).", enum=SCHEDULING_TYPES, example="ROUND_ROBIN")


def _team_booking_properties() -> dict:
    host = obj({"id": an_id("host"), "name": string(example="Adam Host"), "email": string(),
                "fixed": boolean("A fixed host attends every booking of a round-robin event type.")})
    return {
        "team": ref("Team"),
        "schedulingType": _scheduling_type("each booking"),
        "hosts": array(host, f"{TEAM_NOTE} Every host attending, the organizer (`host`) first."),
        "assignmentReason": string(f"{TEAM_NOTE} Round robin: why this host was assigned (null for collective).",
                                   nullable=True, example="fewest bookings in the last 30 days (2)"),
    }


def _routing_form_schema() -> dict:
    return obj({"id": an_id("routing form"), "name": string(example="Sales Qualifier"),
                "slug": string(example="sales-qualifier"), "responseId": string(),
                "answers": {"type": "object", "description": "The visitor's answers by question label (a string, or "
                                                             "a list for a multi-select)."}},
               description="Present when the booking followed a routing form (issue 18).")


OPTIONAL_BOOKING_FIELDS = ("cancelReason", "previousStartTime", "previousEndTime", "routingForm", "approval",
                           "guest", "seat", *_team_booking_properties())


def _payment_schema() -> dict:
    return obj({
        "status": string("pending until paid; expired when the payment window ran out first.",
                         enum=PAYMENT_STATUSES, example="paid"),
        "amount": integer("In minor units of the currency (cents; yen for JPY).", example=5000, minimum=0),
        "currency": string("Lower-case ISO 4217 code.", example="usd"),
        "provider": string(enum=PAYMENT_PROVIDERS, example="stripe"),
        "amountRefunded": integer("Refunded so far, minor units.", example=0, minimum=0),
        "transactionId": string("The provider's payment (a Stripe payment intent, a PayPal capture), once paid.",
                                nullable=True, example="pi_3Nabc"),
    }, description="A paid booking's payment (issue 16).")


def _price_schema() -> dict:
    return obj({"amount": integer("In minor units of the currency.", example=5000, minimum=1),
                "currency": string("Lower-case ISO 4217 code.", example="usd")},
               description="The price of a booking (issue 16).")


def _booking_schema(event_type: dict, extra: dict | None = None) -> dict:
    props = {**_booking_properties(), "eventType": event_type, **_team_booking_properties(),
             "payment": nullable(ref("Payment")), "routingForm": _routing_form_schema(), **(extra or {})}
    return obj(props, required=[k for k in props if k not in OPTIONAL_BOOKING_FIELDS],
               description="A booking. A team booking (issue 15) also has `team`, `schedulingType`, `hosts` and "
                           "`assignmentReason`; `host` is its organizer. The same fields are the `data` of the "
                           "booking webhooks.")


def _webhook_booking_schema() -> dict:
    """The ``data`` of ``booking.*`` webhooks (``booking_payload``): the API's booking without the fields only
    the API adds."""
    api_only = ("inviteeName", "inviteeEmail", "inviteeTimezone", "inviteePhone", "answers", "contactId", "source",
                "cancelledAt", "createdAt", "updatedAt")
    props = {k: v for k, v in _booking_properties().items() if k not in api_only}
    props = {**props, "eventType": nullable(obj({"id": an_id("event type"), "name": string(), "slug": string(),
                                                  "duration": integer("Minutes.")})),
             **_team_booking_properties(),
             "guest": obj({"email": string(format="email"), "noShow": boolean(),
                           "noShowMarkedAt": instant(nullable=True)},
                          description="booking.no_show about a guest only: the guest whose mark changed.")}
    return obj(props, required=[k for k in props if k not in OPTIONAL_BOOKING_FIELDS],
               description="The `data` of booking.created, booking.cancelled, booking.rescheduled, booking.no_show "
                           "and booking.requested webhooks (booking.no_show: the host marked or unmarked the "
                           "invitee, see `noShow`, or a guest, see `guest`; booking.requested: a PENDING request "
                           "waiting for the host's confirmation; a declined or expired request is a "
                           "booking.cancelled with `approval` declined or expired). "
                           "For a team booking it names the team, the scheduling type and every attending host.")


def _event_type_schema() -> dict:
    schema = _personal_event_type_schema()
    schema["properties"].update(
        team=ref("Team"), schedulingType=_scheduling_type("every booking"),
        hosts=array(obj({"id": an_id("host"), "name": string(example="Adam Host")}),
                    f"{TEAM_NOTE} The members who host it, by name."))
    schema["description"] = ("An event type. A team event type (issue 15) also has `team`, `schedulingType` and "
                             "`hosts`, and its `bookingUrl` is the team page; a personal one has none of them.")
    return schema


def _personal_event_type_schema() -> dict:
    question = obj({"id": string(example="company"), "label": string(example="Company"),
                    "type": string(enum=["text", "textarea", "select", "multiselect", "number", "email", "phone",
                                         "checkbox"]),
                    "required": boolean(), "options": array(string())})
    return obj({
        "id": an_id("event type"), "name": string(example="30 Minute Meeting"), "slug": string(example="30-min"),
        "description": string("Markdown."),
        "durationMinutes": integer(example=30), "extraDurations": array(integer(), "Other lengths offered."),
        "locationType": string(example="google_meet"), "locationDetail": string(nullable=True),
        "bufferBefore": integer("Minutes kept free before.", example=5),
        "bufferAfter": integer("Minutes kept free after.", example=10),
        "minimumNotice": integer("Minutes of notice required.", example=60),
        "slotInterval": integer("Minutes between offered starts (null: the duration).", nullable=True),
        "maxPerDay": integer("Most bookings per day (null: no limit).", nullable=True),
        # booking limits (issue 23), in the zone of the event type's schedule; weeks start on Monday
        "maxPerWeek": integer("Most bookings per week, Monday to Sunday (null: no limit).", nullable=True),
        "maxPerMonth": integer("Most bookings per calendar month (null: no limit).", nullable=True),
        "maxPerYear": integer("Most bookings per calendar year (null: no limit).", nullable=True),
        "maxMinutesPerDay": integer("Most booked minutes per day (null: no limit).", nullable=True),
        "maxMinutesPerWeek": integer("Most booked minutes per week (null: no limit).", nullable=True),
        "bookingWindow": obj({"type": string(enum=["rolling", "range"]),
                              "days": integer("Rolling window: days ahead that can be booked."),
                              "startDate": day("Range window: first date.", nullable=True),
                              "endDate": day("Range window: last date.", nullable=True)}),
        "status": string(enum=["ACTIVE", "DRAFT"]), "isActive": boolean(), "isSecret": boolean(),
        "color": string(example="#2563eb"), "questions": array(question),
        "recurrence": nullable(obj({"frequency": string(enum=["weekly", "monthly"]), "interval": integer(),
                                    "maxOccurrences": integer()})),
        "reminders": array(integer(), "Reminder emails, minutes before the start."),
        "price": nullable(ref("Price")),
        "paymentProviders": array(string(enum=PAYMENT_PROVIDERS),
                                  "Priced event types: the providers an invitee can pay with here (the first is "
                                  "the default of `paymentProvider`)."),
        "scheduleId": string("The availability schedule (null: the default).", nullable=True),
        "redirectUrl": string("Redirect after booking: the https page the invitee is sent to once booked (a paid "
                              "booking once paid); null: LinkTime's confirmation page.", format="uri", nullable=True,
                              example="https://example.com/thanks"),
        "redirectWithDetails": boolean("Whether the booking's details ride along to `redirectUrl` as query "
                                       "parameters (booking_id, event_type, event_type_name, host_name, "
                                       "invitee_name, invitee_email, invitee_timezone, start_time, end_time)."),
        "inviteePolicy": obj({
            "cancel": ref("InviteeRule"), "reschedule": ref("InviteeRule"),
            "requireCancelReason": boolean("Invitees must give a reason to cancel.")},
            description="Until when invitees may cancel and reschedule from their confirmation email (the host is "
                        "never limited); refused online, the invitee is asked to contact the host."),
        "requiresConfirmation": boolean("Bookings wait (PENDING) for the host's confirmation (personal event types "
                                        "only)."),
        "confirmationThresholdHours": integer("With `requiresConfirmation`: only bookings made less than this many "
                                              "hours before their start wait; null: every booking.", nullable=True),
        "maxGuests": integer("How many guest emails an invitee may add to a booking (`guests`); 0: none.",
                             example=10),
        "seats": integer("Seats per time slot (2-1000): each invitee books their own seat until the slot is full; "
                         "null: one invitee per time.", nullable=True),
        "seatsShowRemaining": boolean("Whether the booking page shows how many seats are left."),
        "bookingUrl": string(format="uri", example="https://cal.example.com/jane/30-min"),
        "createdAt": instant(), "updatedAt": instant(),
    })


def _contact_properties() -> dict:
    return {"id": an_id("contact"), "name": string(example="Jane Doe"),
            "email": string(format="email", example="jane@example.com"),
            "phone": string(nullable=True, example="+1 555 0100"), "company": string(nullable=True, example="Acme"),
            "notes": string(nullable=True), "source": string("booking, manual or api.", example="api"),
            "createdAt": instant(), "updatedAt": instant()}


def _contact_input(required: tuple[str, ...]) -> dict:
    return obj({"name": string(example="Jane Doe", maxLength=200),
                "email": string(format="email", example="jane@example.com", maxLength=254),
                "phone": string(nullable=True, example="+1 555 0100", maxLength=40),
                "company": string(nullable=True, example="Acme", maxLength=200),
                "notes": string(nullable=True, maxLength=5000)}, required=required)


PAYMENT_PROVIDER_INPUT = string("Priced event types: the provider the invitee pays with, one of the event type's "
                                 "`paymentProviders` (default: the first).", enum=PAYMENT_PROVIDERS, example="stripe")
CHECKOUT_URL = string("Priced event types: where the invitee pays (Stripe Checkout, PayPal approval) before the "
                      "payment window runs out; null when the booking no longer waits for a payment.", nullable=True,
                      format="uri")


def _call_schema() -> dict:
    return obj({"id": an_id("call"), "direction": string(enum=["inbound", "outbound", "web"], example="inbound"),
                "callerPhone": string("The other party's number (E.164); none for a web widget call.",
                                      nullable=True, example="+14155551234"),
                "durationSeconds": integer(example=142, minimum=0),
                "status": string(enum=["in_progress", "completed", "failed", "no_answer"], example="completed"),
                "agentName": string(example="Sales Agent"), "startedAt": instant(),
                "outcome": string("What the call achieved.", nullable=True,
                                  enum=["booking_created", "info_provided", "no_action", None],
                                  example="booking_created"),
                "callType": string("Outbound calls: reminder, confirmation, follow_up or custom.", nullable=True,
                                   example=None),
                "bookingId": string("The booking the call made or is about.", nullable=True, example=EXAMPLE_ID)})


def _conversation_schema() -> dict:
    message = obj({"content": string(example="Hi, can I book a consultation for Tuesday?"),
                   "direction": string(enum=["inbound", "outbound"], example="inbound"),
                   "timestamp": instant("When it was received or sent.")})
    return obj({"id": an_id("conversation"),
                "contactPhone": string("The customer's number (E.164).", example="+14155551234"),
                "channel": string(enum=["sms", "whatsapp"], example="sms"),
                "messages": array(message, "The most recent messages (at most 50) in time order.") | {
                    "maxItems": 50}})


def _public_schemas() -> dict:
    return {
        "PublicBookingRequest": obj({
            "eventTypeId": an_id("event type"),
            "inviteeName": string(example="Jane"), "inviteeEmail": string(format="email", example="jane@example.com"),
            "inviteeTimezone": string(example="America/New_York"),
            "startTime": instant("The slot's start, ISO 8601 with an offset."),
            "notes": string(nullable=True), "phone": string(nullable=True),
            "answers": {"type": ["object", "null"], "description": "Question id to answer."},
            "duration": integer("One of the event type's offered lengths (default: its duration).", nullable=True),
            "occurrences": integer("Recurring event types: how many occurrences to book (default 1).", minimum=1),
            "paymentProvider": PAYMENT_PROVIDER_INPUT,
            "guests": array(string(format="email"), "Additional guests' email addresses (at most the event type's "
                            "`maxGuests`; not the invitee's own; repeats count once). Each gets the invitation."),
        }, required=("eventTypeId", "inviteeName", "inviteeEmail", "inviteeTimezone", "startTime"), example={
            "eventTypeId": EXAMPLE_ID, "inviteeName": "Jane", "inviteeEmail": "jane@example.com",
            "inviteeTimezone": "America/New_York", "startTime": "2026-02-15T15:00:00.000Z"}),
        "PublicBooking": obj({
            "id": an_id("booking"),
            "eventType": nullable(obj({"id": an_id("event type"), "name": string(), "slug": string(),
                                       "duration": integer()})),
            "startTime": instant(), "endTime": instant(),
            "status": string(STATUS_NOTE, enum=BOOKING_STATUSES),
            "invitee": obj({"name": string(), "email": string(), "timezone": string()}),
            "host": obj({"name": string(), "username": string()}),
            "location": string(nullable=True), "isRecurring": boolean(), "recurringGroupId": string(nullable=True),
            "team": obj({"name": string(example="Sales"), "slug": string(example="sales")}),
            "schedulingType": _scheduling_type("each booking"),
            "hosts": array(obj({"name": string()}), f"{TEAM_NOTE} Every attending host, the organizer first."),
            "payment": nullable(obj({k: v for k, v in _payment_schema()["properties"].items()
                                     if k in ("status", "amount", "currency", "provider")},
                                    description="Priced event types: the payment's state.")),
        }, required=("id", "eventType", "startTime", "endTime", "status", "invitee", "host", "location",
                     "isRecurring", "recurringGroupId", "payment")),
        "PublicBookingResponse": obj({"bookingId": an_id("booking"), "booking": ref("PublicBooking"),
                                      "bookings": array(ref("PublicBooking"), "Every occurrence of a series."),
                                      "checkoutUrl": CHECKOUT_URL},
                                     required=("bookingId", "booking")),
    }


def _out_of_office_schemas() -> dict:
    reasons = ["vacation", "travel", "sick", "holiday", "other"]
    day = string("A date (YYYY-MM-DD) in the entry's time zone.", format="date", example="2026-08-03")
    entry = obj({"id": an_id("entry"), "startDate": day, "endDate": {**day, "description": "The last day away."},
                 "timezone": string("The zone the dates are read in.", example="Europe/Berlin"),
                 "reason": string(enum=reasons), "reasonLabel": string(example="Vacation"),
                 "showReason": boolean("The booking page names the reason."),
                 "note": string("Shown to invitees on the booking page.", nullable=True),
                 "redirectTo": nullable(obj({"id": an_id("user"), "name": string(), "username": string()})),
                 "createdAt": instant()})
    request = obj({"startDate": day, "endDate": {**day, "description": "The last day away (included)."},
                   "reason": string(enum=reasons, default="vacation"),
                   "note": string("At most 500 characters.", nullable=True),
                   "showReason": boolean("Name the reason on the booking page (default true)."),
                   "redirectToUserId": string("A member of one of your teams to send invitees to.", nullable=True)},
                  required=("startDate", "endDate"))
    return {"OutOfOffice": entry, "OutOfOfficeList": obj({"data": array(ref("OutOfOffice"))}),
            "OutOfOfficeRequest": request}


def components() -> dict:
    booking_event_type = nullable(obj({"id": an_id("event type"), "name": string(), "slug": string(),
                                       "duration": integer("Minutes.")}))
    schemas = {
        **_error_schemas(),
        "User": _user_schema(),
        "Booking": _booking_schema(booking_event_type),
        "BookingActivity": obj({"id": an_id("entry"), "kind": string(example="email"),
                                "message": string(example="Confirmation emails queued to sarah@example.com"),
                                "createdAt": instant()}),
        "BookingDetail": _booking_schema(nullable(ref("EventType")), {
            "contact": nullable(ref("Contact")),
            "emailLogs": array(ref("BookingActivity"), "The booking's history: creation, emails, changes."),
        }),
        "BookingList": obj({"data": array(ref("Booking")), "pagination": ref("Pagination")}),
        "CreateBookingRequest": obj({
            "eventTypeSlug": string("Slug of one of your active event types.", example="30-min"),
            "eventTypeId": string("Instead of `eventTypeSlug`: the id of an active event type of yours or of one of "
                                  "your teams (a team event type is booked by id). Takes precedence over the slug.",
                                  example=EXAMPLE_ID),
            "startTime": instant("The slot's start, ISO 8601 with an offset."),
            "inviteeName": string(example="Sarah Chen"),
            "inviteeEmail": string(format="email", example="sarah@example.com"),
            "inviteeTimezone": string("IANA time zone.", example="America/New_York"),
            "notes": string(nullable=True, example="Optional"), "phone": string(nullable=True),
            "answers": {"type": ["object", "null"], "description": "Question id to answer."},
            "duration": integer("One of the offered lengths (default: the duration).", nullable=True),
            "occurrences": integer("Recurring event types: occurrences to book (default 1).", nullable=True),
            "paymentProvider": PAYMENT_PROVIDER_INPUT,
            "guests": array(string(format="email"), "Additional guests' email addresses (at most the event type's "
                            "`maxGuests`; not the invitee's own; repeats count once). Each gets the invitation."),
        }, required=("startTime", "inviteeName", "inviteeEmail", "inviteeTimezone"),
            anyOf=[{"required": ["eventTypeSlug"]}, {"required": ["eventTypeId"]}], example={
            "eventTypeSlug": "30-min", "startTime": EXAMPLE_INSTANT, "inviteeName": "Sarah Chen",
            "inviteeEmail": "sarah@example.com", "inviteeTimezone": "America/New_York", "notes": "Optional"}),
        "CreateBookingResponse": obj({"bookingId": an_id("booking"),
                                      "bookingIds": array(string(), "Every occurrence of a recurring series."),
                                      "booking": ref("Booking") | {"description": "Priced event types: the held "
                                                                   "booking (status PENDING_PAYMENT)."},
                                      "checkoutUrl": CHECKOUT_URL},
                                     required=("bookingId",)),
        "Payment": _payment_schema(),
        "Price": _price_schema(),
        "SingleUseLinkRequest": obj({"eventTypeId": string("One of your personal event types.", example=EXAMPLE_ID),
                                     "expiresAt": instant("When the link stops working (optional, future).",
                                                          nullable=True)}, required=("eventTypeId",)),
        "SingleUseLink": obj({"id": string(example=EXAMPLE_ID), "url": string("The link to share.", format="uri"),
                              "eventTypeId": string(example=EXAMPLE_ID), "expiresAt": instant(nullable=True),
                              "createdAt": instant()}),
        **_out_of_office_schemas(),
        "InviteeRule": obj({"mode": string("anytime: until the start; until: until `hours` before the start; "
                                           "never: not online.", enum=["anytime", "until", "never"]),
                            "hours": integer("For `until`: hours before the start.", nullable=True, example=24)},
                           description="Until when invitees may do this online (issue 23)."),
        "NoShowRequest": obj({"noShow": boolean("true: the invitee (or `guest`) did not come; false: undo the mark.",
                                                example=True),
                              "guest": string("A guest's email address: mark that guest instead of the invitee.",
                                              format="email", nullable=True)}, required=("noShow",)),
        "CancelRequest": obj({"reason": string(nullable=True, example="Schedule conflict")}, required=()),
        "RescheduleRequest": obj({"newStartTime": instant("The new start, ISO 8601 with an offset."),
                                  "reason": string(nullable=True, example="Conflict")}, required=("newStartTime",)),
        "Contact": obj(_contact_properties()),
        "ContactListItem": obj({**_contact_properties(), "meetingCount": integer("Confirmed meetings.")}),
        "ContactList": obj({"data": array(ref("ContactListItem")), "pagination": ref("Pagination")}),
        "ContactDetail": obj({**_contact_properties(),
                              "upcomingMeetings": array(ref("Booking"), "Confirmed, not yet ended, soonest first."),
                              "pastMeetings": array(ref("Booking"), "Confirmed and ended, latest first."),
                              "meetingCount": integer()}),
        "ContactCreateRequest": _contact_input(("name", "email")) | {"example": {
            "name": "Jane Doe", "email": "jane@example.com", "phone": "+1 555 0100", "company": "Acme",
            "notes": "Met at the conference"}},
        "ContactUpdateRequest": _contact_input(()) | {"example": {"name": "Jane Smith", "company": "NewCo"}},
        "EventType": _event_type_schema(),
        "Team": _team_schema(),
        "WebhookBooking": _webhook_booking_schema(),
        "EventTypeList": obj({"data": array(ref("EventType")), "pagination": ref("Pagination")}),
        "Slot": obj({"date": day("Local date in the requested zone."),
                     "time": string("Local start time, HH:MM.", example="10:00", pattern=r"^\d{2}:\d{2}$"),
                     "startTime": string("Start with the zone's offset.", format="date-time",
                                         example="2026-03-01T10:00:00.000-05:00"),
                     "endTime": string("End with the zone's offset.", format="date-time",
                                       example="2026-03-01T10:30:00.000-05:00")}),
        "Availability": obj({"data": array(ref("Slot")),
                             "eventType": obj({"id": an_id("event type"), "name": string(), "slug": string(),
                                               "durationMinutes": integer(), "team": ref("Team"),
                                               "schedulingType": _scheduling_type("every booking")},
                                              required=("id", "name", "slug", "durationMinutes")),
                             "timezone": string(example="America/New_York"),
                             "startDate": day("First local date searched."),
                             "endDate": day("Last local date searched.")}),
        "Call": _call_schema(),
        "CallList": obj({"data": array(ref("Call")), "pagination": ref("Pagination")}),
        "Conversation": _conversation_schema(),
        "ConversationList": obj({"data": array(ref("Conversation")), "pagination": ref("Pagination")}),
        **_public_schemas(),
    }
    schemas.update(_zapier_schemas())
    return {
        "schemas": schemas,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "lt_live_...",
                                           "description": "An API key from Settings → API Keys."},
                            "zapierApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                             "description": "The same API keys, as Zapier sends them."}},
    }


def _zapier_schemas() -> dict:
    url = string("The URL Zapier gives for this subscription (`targetUrl`, `hook_url` and `target_url` are "
                 "accepted too).", example="https://hooks.zapier.com/hooks/standard/123/abc/")
    return {
        "ZapierUser": obj({"id": an_id("user"), "name": string(example="Jane Host"),
                           "email": string(example="jane@example.com")}),
        "ZapierSubscribeRequest": obj({
            "event": string("The trigger.", enum=list(EVENT_NAMES)), "hookUrl": url,
            "targetUrl": string(), "hook_url": string(), "target_url": string(),
            "eventTypeId": string("Booking triggers only: fire only for this event type.", nullable=True),
            "event_type_id": string(nullable=True),
        }, required=("event",), example={"event": "booking.created",
                                         "hookUrl": "https://hooks.zapier.com/hooks/standard/123/abc/"}),
        "ZapierSubscription": obj({"id": an_id("subscription"), "event": string(enum=list(EVENT_NAMES)),
                                   "hookUrl": string(), "eventTypeId": string(nullable=True)}),
        "ZapierUnsubscribeRequest": obj({"id": string("The id subscribe returned.")}, required=("id",)),
        "ZapierUnsubscribed": obj({"id": string(), "deleted": boolean(const=True)}),
        "WebhookEnvelope": obj({"apiVersion": string(example=API_VERSION), "event": string(enum=list(EVENT_NAMES)),
                                "timestamp": instant(), "data": {
                                    "type": "object", "description": "The event's payload: for booking events a "
                                    "`WebhookBooking` (a team booking names its team and hosts), for "
                                    "contact.created a contact."}}),
        "ZapierEventType": obj({"id": an_id("event type"), "name": string(example="30 Minute Meeting"),
                                "slug": string(example="30-min")}),
    }
