//! What the relay writes on the incident: its conference bridge (the join link and a one-touch
//! number) and the timeline note with everything a responder needs to join.

use crate::model::{Bridge, DialInNumber, Meeting, MeetingOptions};

/// Dial-in numbers listed in the note; Zoom can return dozens.
const NOTE_MAX_NUMBERS: usize = 8;

/// The incident's conference bridge: the join link, and a one-touch number when Zoom has dial-in.
pub fn bridge(meeting: &Meeting) -> Bridge {
    bridge_with(meeting, &MeetingOptions::default())
}

/// The bridge with the one-touch number from the first country of `dial_in_countries` that
/// Zoom lists a number for (else Zoom's first number).
pub fn bridge_with(meeting: &Meeting, options: &MeetingOptions) -> Bridge {
    Bridge {
        conference_url: Some(meeting.join_url.clone()),
        conference_number: one_touch_number(meeting, options)
            .map(|number| one_touch(&number.number, meeting)),
    }
}

/// The dial-in number the one-touch number is made of.
pub fn one_touch_number<'a>(
    meeting: &'a Meeting,
    options: &MeetingOptions,
) -> Option<&'a DialInNumber> {
    let preferred = options
        .dial_in_countries
        .iter()
        .flatten()
        .find_map(|country| {
            meeting.dial_in.iter().find(|number| {
                number
                    .country
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(country))
            })
        });
    preferred.or_else(|| meeting.dial_in.first())
}

/// `+1 669-900-6833,,85012345678#,,,,*123456#`: each comma waits a second, `#` ends an entry,
/// and `*` before the passcode skips Zoom's participant-id prompt.
pub fn one_touch(number: &str, meeting: &Meeting) -> String {
    let mut out = format!("{},,{}#", display_number(number), meeting.id);
    if let Some(passcode) = &meeting.phone_passcode {
        out.push_str(&format!(",,,,*{passcode}#"));
    }
    out
}

/// `+1 6699006833` -> `+1 669-900-6833` for North American numbers; others as Zoom gives them.
pub fn display_number(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if number.trim_start().starts_with("+1") && digits.len() == 11 {
        format!("+1 {}-{}-{}", &digits[1..4], &digits[4..7], &digits[7..])
    } else {
        number.trim().to_owned()
    }
}

/// `85012345678` -> `850 1234 5678`, the way Zoom shows meeting ids.
pub fn display_meeting_id(id: u64) -> String {
    let digits = id.to_string();
    match digits.len() {
        11 => format!("{} {} {}", &digits[..3], &digits[3..7], &digits[7..]),
        10 => format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]),
        9 => format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]),
        _ => digits,
    }
}

/// The timeline note: everything a responder needs to join, by link or by phone.
pub fn note(meeting: &Meeting) -> String {
    note_with(meeting, &MeetingOptions::default(), None)
}

/// The note with the policy's one-touch number and, for a button click, who asked.
pub fn note_with(
    meeting: &Meeting,
    options: &MeetingOptions,
    requested_by: Option<&str>,
) -> String {
    let mut lines = vec![match requested_by {
        Some(who) => {
            format!("Zoom bridge opened for this incident (bridge-relay), requested by {who}.")
        }
        None => "Zoom bridge opened for this incident (bridge-relay).".to_owned(),
    }];
    lines.extend([
        format!("Join: {}", meeting.join_url),
        format!("Meeting ID: {}", display_meeting_id(meeting.id)),
    ]);
    if let Some(passcode) = &meeting.passcode {
        lines.push(format!("Passcode: {passcode}"));
    }
    if meeting
        .phone_passcode
        .as_ref()
        .is_some_and(|p| Some(p) != meeting.passcode.as_ref())
    {
        lines.push(format!(
            "Phone passcode: {}",
            meeting.phone_passcode.as_deref().unwrap_or_default()
        ));
    }
    if let Some(first) = one_touch_number(meeting, options) {
        lines.push(format!("One tap: {}", one_touch(&first.number, meeting)));
        lines.push("Dial in:".to_owned());
        for number in meeting.dial_in.iter().take(NOTE_MAX_NUMBERS) {
            let place = [number.city.as_deref(), number.country_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let kind = number
                .kind
                .as_deref()
                .filter(|k| *k == "tollfree")
                .map(|_| " (toll free)")
                .unwrap_or_default();
            if place.is_empty() {
                lines.push(format!("  {}{kind}", display_number(&number.number)));
            } else {
                lines.push(format!(
                    "  {} {place}{kind}",
                    display_number(&number.number)
                ));
            }
        }
    } else {
        lines.push("Dial in: this Zoom account has no dial-in numbers.".to_owned());
    }
    lines.join("\n")
}

/// What a note says of a time it cannot write (past the year 9999, say).
pub const UNKNOWN_TIME: &str = "an unknown time";

/// `2026-11-24 10:02 UTC`.
pub fn day_and_clock(time: std::time::SystemTime) -> String {
    let text = crate::telemetry::rfc3339_seconds(time).unwrap_or_default();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(clock)) => format!("{day} {clock} UTC"),
        _ => UNKNOWN_TIME.into(),
    }
}

/// `10:02 UTC`, of a time in ms since the Unix epoch.
pub fn clock(at_ms: u64) -> String {
    let text = crate::telemetry::time_of_millis(at_ms)
        .and_then(crate::telemetry::rfc3339_seconds)
        .unwrap_or_default();
    match text.get(11..16) {
        Some(clock) => format!("{clock} UTC"),
        None => UNKNOWN_TIME.into(),
    }
}
