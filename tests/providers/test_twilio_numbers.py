"""Twilio phone numbers through app.integrations.twilio_numbers, against the local fake (tests/fakes/twilio.py)."""
from __future__ import annotations

import base64

import pytest
from twilio.base.exceptions import TwilioRestException

from app.integrations import twilio_numbers
from app.integrations.errors import AuthRevoked, PermanentError, TransientError
from app.integrations.twilio_numbers import (
    LOCAL,
    SUPPORTED_COUNTRIES,
    TOLL_FREE,
    NumberError,
    UnsupportedCountry,
    provision,
    purchase,
    release,
    search,
    update,
)
from app.integrations.twilio_sms import TwilioAuthRejected
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioFake

NUMBERS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers"
VOICE = "https://cal.example.com/api/voice/inbound"
SMS = "https://cal.example.com/api/webhooks/twilio/inbound"


@pytest.fixture
def fake():
    with TwilioFake() as server:
        yield server


def test_the_fourteen_countries_of_page_ten():
    assert list(SUPPORTED_COUNTRIES) == ["US", "CA", "GB", "FR", "DE", "ES", "NL", "IT", "AU", "BR", "MX", "JP",
                                         "SG", "AE"]
    assert SUPPORTED_COUNTRIES["AE"][1] == "+971" and SUPPORTED_COUNTRIES["GB"][1] == "+44"


# --- search ----------------------------------------------------------------------------------------------------
def test_search_asks_for_local_numbers_with_the_filters(fake):
    found = search("us", area_code="415", sms=True, limit=2, config=fake.settings())
    assert [n.phone_number for n in found] == ["+14155550100", "+14155550101"]
    assert all(n.kind == LOCAL and n.iso_country == "US" and n.voice and n.sms for n in found)
    [call] = fake.requests
    assert call.method == "GET"
    assert call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/AvailablePhoneNumbers/US/Local.json"
    scheme, _, value = call.headers["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(value).decode() == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    assert dict(call.query) == {"AreaCode": "415", "SmsEnabled": "true", "VoiceEnabled": "true", "PageSize": "2"}


def test_search_falls_back_to_toll_free_when_the_country_has_no_local_number(fake):
    found = search("AE", config=fake.settings())
    assert [(n.phone_number, n.kind, n.iso_country) for n in found] == [("+97180012345", TOLL_FREE, "AE")]
    assert [c.path.rsplit("/", 1)[1] for c in fake.requests] == ["Local.json", "TollFree.json"]


def test_search_answers_nothing_when_neither_kind_is_in_stock(fake):
    assert search("JP", config=fake.settings()) == []
    with pytest.raises(NumberError, match="no phone number available in Japan"):
        provision("JP", config=fake.settings())


def test_the_fake_filters_by_capability(fake):
    fake.stock("FR", local=["+33140000000"], sms=False)
    assert search("FR", sms=True, config=fake.settings()) == []          # nothing local with SMS, no toll-free
    [number] = search("FR", config=fake.settings())
    assert number.kind == LOCAL and number.voice and not number.sms


@pytest.mark.parametrize("country", ["ZZ", "", "USA", "in", None])
def test_an_unsupported_country_is_refused_before_any_request(fake, country):
    with pytest.raises(UnsupportedCountry) as caught:
        search(country, config=fake.settings())
    assert isinstance(caught.value, PermanentError)
    with pytest.raises(UnsupportedCountry):
        provision(country, config=fake.settings())
    assert fake.requests == []


# --- purchase, update, release ---------------------------------------------------------------------------------
def test_purchase_buys_an_offered_number_with_its_webhooks(fake):
    [offer, *_] = search("GB", config=fake.settings())
    owned = purchase(offer.phone_number, friendly_name="Main Office", voice_url=VOICE, sms_url=SMS,
                     config=fake.settings())
    assert owned.sid.startswith("PN") and owned.phone_number == "+442071838750"
    assert (owned.friendly_name, owned.voice_url, owned.sms_url, owned.status_callback) == \
        ("Main Office", VOICE, SMS, None)
    call = fake.requests[-1]
    assert call.method == "POST" and call.path == NUMBERS + ".json"
    assert dict(call.form) == {"PhoneNumber": "+442071838750", "FriendlyName": "Main Office", "VoiceUrl": VOICE,
                               "SmsUrl": SMS}
    assert list(fake.numbers) == [owned.sid]
    assert "+442071838750" not in [n.phone_number for n in search("GB", config=fake.settings())]


def test_provision_buys_the_first_local_number_or_a_toll_free_one(fake):
    assert provision("US", area_code="212", config=fake.settings()).phone_number == "+12125550100"
    assert provision("AE", friendly_name="Dubai", config=fake.settings()).phone_number == "+97180012345"
    assert [n["type"] for n in fake.numbers.values()] == ["local", "tollfree"]


def test_provision_moves_on_when_a_number_was_taken_meanwhile(fake, monkeypatch):
    real_search = twilio_numbers.search

    def stale_first(*args, **kwargs):
        gone = twilio_numbers.AvailableNumber("+14155550199", "+14155550199", "US", LOCAL, True, True)
        return [gone, *real_search(*args, **kwargs)]
    monkeypatch.setattr(twilio_numbers, "search", stale_first)
    assert provision("US", config=fake.settings()).phone_number == "+14155550100"
    assert [dict(c.form).get("PhoneNumber") for c in fake.requests if c.method == "POST"] == \
        ["+14155550199", "+14155550100"]


@pytest.mark.parametrize(("number", "code"), [("+14155559999", 21422), ("+14155550100", 21422)])
def test_a_number_not_offered_is_refused_with_twilio_s_code(fake, number, code):
    with pytest.raises(NumberError) as caught:                 # never searched: not offered, even if in stock
        purchase(number, config=fake.settings())
    assert caught.value.code == code and caught.value.status == 400
    assert "no longer available" in str(caught.value) and "Twilio says" in str(caught.value)
    assert fake.numbers == {}


def test_a_malformed_number_is_refused_locally_and_by_the_fake(fake):
    with pytest.raises(NumberError) as caught:
        purchase("4155550100", config=fake.settings())
    assert caught.value.code == 21421 and fake.requests == []
    client, _ = twilio_numbers._client(fake.settings())
    with pytest.raises(TwilioRestException) as raw:
        client.incoming_phone_numbers.create(phone_number="4155550100")
    assert twilio_numbers._refusal(raw.value).code == 21421


def test_update_changes_only_what_is_given_and_empty_clears(fake):
    [offer, *_] = search("US", config=fake.settings())
    owned = purchase(offer.phone_number, voice_url=VOICE, sms_url=SMS, config=fake.settings())
    changed = update(owned.sid, friendly_name="Sales line", sms_url="", config=fake.settings())
    assert (changed.friendly_name, changed.voice_url, changed.sms_url) == ("Sales line", VOICE, None)
    call = fake.requests[-1]
    assert call.method == "POST" and call.path == f"{NUMBERS}/{owned.sid}.json"
    assert dict(call.form) == {"FriendlyName": "Sales line", "SmsUrl": ""}
    with pytest.raises(NumberError) as caught:
        update(owned.sid, voice_url="ftp://example.com/x", config=fake.settings())
    assert caught.value.code == 21402 and fake.numbers[owned.sid]["voice_url"] == VOICE


def test_release_deletes_the_number_and_a_second_release_says_so(fake):
    [offer, *_] = search("US", config=fake.settings())
    owned = purchase(offer.phone_number, config=fake.settings())
    assert release(owned.sid, config=fake.settings()) is True
    call = fake.requests[-1]
    assert call.method == "DELETE" and call.path == f"{NUMBERS}/{owned.sid}.json"
    assert fake.numbers == {} and [n["sid"] for n in fake.released] == [owned.sid]
    assert release(owned.sid, config=fake.settings()) is False
    with pytest.raises(NumberError) as caught:
        update(owned.sid, friendly_name="gone", config=fake.settings())
    assert caught.value.status == 404 and caught.value.code == 20404


@pytest.mark.parametrize("sid", ["PN123", "../Messages", "", None])
def test_a_malformed_sid_is_refused_before_any_request(fake, sid):
    with pytest.raises(NumberError):
        release(sid, config=fake.settings())
    with pytest.raises(NumberError):
        update(sid, friendly_name="x", config=fake.settings())
    assert fake.requests == []


# --- errors ----------------------------------------------------------------------------------------------------
def test_wrong_credentials_are_an_auth_rejection(fake):
    with pytest.raises(TwilioAuthRejected) as caught:
        search("US", config=fake.settings(TWILIO_AUTH_TOKEN="wrong"))
    assert caught.value.status == 401 and caught.value.code == 20003
    assert isinstance(caught.value, AuthRevoked) and not isinstance(caught.value, NumberError)


def test_missing_settings_refuse_without_a_request(fake):
    with pytest.raises(NumberError, match="TWILIO_ACCOUNT_SID"):
        search("US", config=fake.settings(TWILIO_ACCOUNT_SID=""))
    assert fake.requests == []
    assert twilio_numbers.configured(fake.settings(TWILIO_FROM_NUMBER="")) is True


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_transient(fake, status):
    [offer, *_] = search("US", config=fake.settings())
    fake.fail(status)
    with pytest.raises(TransientError) as caught:
        purchase(offer.phone_number, config=fake.settings())
    assert caught.value.status == status and fake.numbers == {}


@pytest.mark.parametrize("status", [500, 429])
def test_a_search_twilio_cannot_answer_is_transient(fake, status):
    fake.fail(status)
    with pytest.raises(TransientError) as caught:
        search("US", config=fake.settings())
    assert caught.value.status == status


def test_a_hanging_twilio_is_a_transient_timeout(fake):
    fake.hang(3)
    with pytest.raises(TransientError, match="did not answer in time"):
        search("US", config=fake.settings(INTEGRATION_HTTP_TIMEOUT=0.5))


def test_an_unreachable_twilio_is_transient(fake):
    cfg = fake.settings()
    fake.stop()
    with pytest.raises(TransientError):
        release("PN" + "0" * 32, config=cfg)
