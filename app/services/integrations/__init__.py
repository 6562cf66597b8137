"""Connected accounts: calendars (busy times, the booking's calendar event) and video meetings."""
